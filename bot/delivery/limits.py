"""Pacing sends under Telegram's limits instead of provoking 429s.

Telegram allows about one message per second to a chat, 20 per minute to a group and 30 per
second in all, measured when messages arrive. So a chat's spacing is counted from when its
last message really went out (`start_send`, called right before the request), not from
when it was queued: a send delayed behind others must not shorten the next gap. The
overall rate is an aiolimiter bucket of capacity one, taken right before each request,
which spaces sends evenly rather than allowing a burst. The defaults sit a little under the
published numbers.
"""

from __future__ import annotations

import asyncio
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

    FORGET_AFTER = 3600.0  # a chat's last send older than this no longer matters
    SLACK = 0.15  # of one interval: how early a send may go to make up for a late one

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        # A bucket of capacity 1 + SLACK: sends are evenly spaced, and a send that went out
        # late (timers fire a millisecond or so after they are due) lets the next go up to
        # SLACK of an interval early, so the lateness is made up instead of lost for good.
        # Any one second still holds at most global_per_second + 1 + SLACK sends.
        capacity = 1 + self.SLACK
        self._global = AsyncLimiter(capacity, capacity / limits.global_per_second)
        self._last_sent: dict[int, float] = {}
        self._pruned_at = time.monotonic()

    def _interval(self, is_group: bool) -> float:
        if is_group:
            return max(self.limits.per_chat_interval, self.limits.per_group_interval)
        return self.limits.per_chat_interval

    def delay(self, chat_id: int, is_group: bool) -> float:
        """Seconds until the chat's next message may go; 0 when it may go now."""
        last = self._last_sent.get(chat_id)
        if last is None:
            return 0.0
        return max(0.0, last + self._interval(is_group) - time.monotonic())

    async def wait_turn(self, chat_id: int, is_group: bool) -> None:
        """Return once the chat's last message is far enough in the past."""
        if (delay := self.delay(chat_id, is_group)) > 0:
            await asyncio.sleep(delay)

    async def start_send(self, chat_id: int) -> None:
        """Right before a request: wait for the overall rate, then note the chat's send."""
        await self._global.acquire()
        self.note_send(chat_id)

    def note_send(self, chat_id: int) -> None:
        """A message to `chat_id` goes out now (an alert, or a reply sent at once)."""
        now = time.monotonic()
        if now - self._pruned_at > 60:  # at most once a minute: pruning walks every chat
            horizon, self._pruned_at = now - self.FORGET_AFTER, now
            self._last_sent = {k: t for k, t in self._last_sent.items() if t > horizon}
        self._last_sent[chat_id] = now
