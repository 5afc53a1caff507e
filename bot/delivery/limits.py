"""Pacing sends under Telegram's limits instead of provoking 429s.

Telegram allows about one message per second to a chat, 20 per minute to a group and 30 per
second in all. Each limit is an aiolimiter bucket of capacity one, which spaces sends
evenly rather than allowing a burst followed by a 429. The defaults sit a little under the
published numbers, since Telegram measures arrival times, not ours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiolimiter import AsyncLimiter


@dataclass(frozen=True)
class Limits:
    """Seconds between two sends to one chat and to one group, and sends per second overall."""

    per_chat_interval: float = 1.05
    per_group_interval: float = 60 / 19
    global_per_second: float = 29.0  # 30/s published


class Pacer:
    """Waits, per chat and overall, until a message may go out; chats do not wait for each other."""

    IDLE_SECONDS = 300.0  # a chat's bucket is forgotten after this long without sends

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._global = AsyncLimiter(1, 1 / limits.global_per_second)
        self._chats: dict[int, tuple[AsyncLimiter, float]] = {}

    async def wait_turn(self, chat_id: int, is_group: bool) -> None:
        """Return when one message to `chat_id` fits every limit."""
        await self._chat_limiter(chat_id, is_group).acquire()
        await self._global.acquire()

    async def note_send(self, chat_id: int, is_group: bool) -> None:
        """Count a message sent outside the sender (a reply) without waiting for it."""
        for limiter in (self._chat_limiter(chat_id, is_group), self._global):
            if limiter.has_capacity():
                await limiter.acquire()  # immediate: there is room

    def _chat_limiter(self, chat_id: int, is_group: bool) -> AsyncLimiter:
        now = time.monotonic()
        if len(self._chats) > 1000:
            self._chats = {k: v for k, v in self._chats.items() if now - v[1] < self.IDLE_SECONDS}
        limiter, _ = self._chats.get(chat_id, (None, now))
        if limiter is None:
            interval = max(
                self.limits.per_chat_interval,
                self.limits.per_group_interval if is_group else 0.0,
            )
            limiter = AsyncLimiter(1, interval)
        self._chats[chat_id] = (limiter, now)
        return limiter
