"""Drains the outbox into Telegram, marking each alert sent only after Telegram took it.

Every failure keeps the alert: a 429 holds that chat for `retry_after`, a network error or
5xx retries with backoff, a 403 parks the chat until it speaks again, a group upgrade moves
the alert to the new chat id, and an unforeseen error (a bug, a database error) postpones
just that alert with backoff, while a round still waits for every chat. A crash between the
send and the mark repeats at most the one message in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from selectolax.lexbor import LexborHTMLParser
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.core.digest import DigestItem, format_digest
from bot.core.formatting import format_alert
from bot.core.schedule import is_digest, release_at
from bot.delivery import buttons
from bot.delivery.limits import Pacer
from bot.store import queries
from bot.store.db import Store
from bot.store.models import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF = timedelta(minutes=30)


REVISE_RETRY = timedelta(minutes=1)


def _by_chat(items: list[queries.Due]) -> list[list[queries.Due]]:
    """Items grouped by chat, each group in the order given."""
    groups: dict[int, list[queries.Due]] = {}
    for item in items:
        groups.setdefault(item.chat_id, []).append(item)
    return list(groups.values())


# 400s that no retry can cure: the chat is gone, or the bot may no longer post there (a
# channel admin took its rights). The chat is parked like after a 403 until it speaks again.
_NO_POSTING = ("chat not found", "need administrator rights", "not enough rights")


def _cannot_post(message: str) -> bool:
    return any(reason in message.lower() for reason in _NO_POSTING)


def _digest_item(item: queries.Due) -> DigestItem:
    return DigestItem(item.article.as_value(), item.source_title, item.tags)


def _alert_text(item: queries.Due) -> str:
    """A single alert's message, the same when first sent and when edited."""
    return format_alert(
        item.article.as_value(),
        source_name=item.source_title,
        tags=item.tags,
        matched={name: term for name, term in item.matched.items() if term},
        also=item.also,
    )


def _which(items: list[queries.Due]) -> str:
    """The alerts for a log line: their delivery ids and article links."""
    links = ", ".join(item.article.link for item in items)
    return f"alerts {[item.delivery_id for item in items]} ({links})"


def _plain_text(html: str) -> str:
    """The message without markup, each link's URL kept after its text: "Title (https://…)".

    Never longer than the HTML (`<a href="URL">Title</a>`), so it fits wherever that did.
    """
    tree = LexborHTMLParser(html)
    for link in tree.css("a[href]"):
        url, label = link.attributes.get("href") or "", link.text(separator="")
        link.replace_with(label if label in (url, "") else f"{label} ({url})")
    return tree.text(separator="")


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at MAX_BACKOFF: retried for ever, never dropped."""
    return min(timedelta(seconds=5 * 2 ** min(attempts, 20)), MAX_BACKOFF)


def _retry_after(exc: RetryAfter) -> timedelta:
    """`retry_after` as a timedelta, whichever of PTB's two representations is active."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB warns that the int form will become timedelta
        value = exc.retry_after
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


class Sender:
    """Sends due alerts, each chat in order and chats side by side, paced under the limits.

    `run` loops until cancelled, woken early by `wake` when ingest queued something.
    """

    PER_CHAT_PER_ROUND = 5  # single alerts per chat per round, so no chat holds a round
    LONGEST_WAIT = 0.5  # seconds a round waits for one chat's turn; longer waits are holds

    def __init__(
        self,
        store: Store,
        bot: Bot,
        *,
        pacer: Pacer | None = None,
        digest_threshold: int = 5,
        batch_size: int = 1000,
        idle_seconds: float = 2.0,
        paid_broadcast: bool = False,
    ) -> None:
        self._store = store
        self._bot = bot
        self._pacer = pacer or Pacer()
        self._digest_threshold = digest_threshold
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        # Past 30 messages a second Telegram takes only paid broadcasts (for bots allowed them).
        self.paid_broadcast = paid_broadcast
        # One message between "sent" and "marked sent" at a time: a crash can then repeat
        # at most that one. Chats still interleave; the pacer spaces sends anyway, and it
        # notes each chat's send inside this lock, when the request really goes out.
        self._in_flight = asyncio.Lock()

    async def run(self, wake: asyncio.Event) -> None:
        while True:
            try:
                sent = await self.drain_once()
            except Exception:  # the loop must outlive any one bad round
                log.exception("delivery round failed; retrying")
                sent = 0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._idle_seconds)
            wake.clear()

    async def drain_once(self) -> int:
        """Send one round of due alerts; returns how many alerts Telegram accepted."""
        async with self._store.transaction() as session:
            due = await queries.due_deliveries(session, utcnow(), self._batch_size)
        sent = await self._each_chat(self._drain_chat, due)
        async with self._store.transaction() as session:
            edits = await queries.due_revisions(session, utcnow(), self._batch_size)
        return sent + await self._each_chat(self._revise_chat, edits)

    async def _each_chat(
        self, work: Callable[[list[queries.Due]], Awaitable[int]], items: list[queries.Due]
    ) -> int:
        """Run `work` for each chat side by side and wait for every one of them to finish.

        A round must not end while a chat is still sending: the next round would read the
        rows in flight and send them again. `_guarded` catches a chat's failures; whatever
        still escapes (say, the database is gone) is logged here, after all chats are done.
        """
        chats = _by_chat(items)
        results = await asyncio.gather(*map(work, chats), return_exceptions=True)
        for chat, result in zip(chats, results, strict=True):
            if isinstance(result, BaseException):
                log.error("chat %s: %s failed", chat[0].chat_id, _which(chat), exc_info=result)
        return sum(result for result in results if isinstance(result, int))

    async def _guarded(self, items: list[queries.Due], step: Awaitable[T], failed: T) -> T:
        """`step` for these alerts of one chat, or `failed` if it raised something unforeseen
        (a bug in formatting, a database error): the alerts are postponed with backoff, so a
        poisoned alert neither retries in a tight loop nor holds up other chats."""
        try:
            return await step
        except Exception as exc:
            log.exception("chat %s: %s failed; postponing them", items[0].chat_id, _which(items))
            await self._postpone(items, f"{type(exc).__name__}: {exc}")
            return failed

    async def _postpone(self, items: list[queries.Due], error: str) -> None:
        """Try these alerts again after a backoff that grows with their attempts."""
        until = utcnow() + backoff(max(item.attempts for item in items))
        await self._write(queries.postpone, [item.delivery_id for item in items], until, error)

    async def _drain_chat(self, items: list[queries.Due]) -> int:
        """Send a chat's released alerts in order, per forum topic; hold the others."""
        released = await self._guarded(items, self._hold_unreleased(items), [])
        by_thread: dict[int | None, list[queries.Due]] = {}
        for item in released:
            by_thread.setdefault(item.thread_id, []).append(item)
        sent = 0
        for thread_items in by_thread.values():
            done, complete = await self._send_thread(thread_items)
            sent += done
            if not complete:
                break  # keep the chat's order: its later alerts wait too
        return sent

    async def _hold_unreleased(self, items: list[queries.Due]) -> list[queries.Due]:
        """Alerts the chat wants now; the rest wait for quiet hours, a mute or digest time."""
        now, plan = utcnow(), items[0].plan
        held: dict[datetime, list[int]] = {}
        released = []
        for item in items:
            when = release_at(plan, item.queued_at, now)
            if when > now:
                held.setdefault(when, []).append(item.delivery_id)
            else:
                released.append(item)
        for when, ids in held.items():
            await self._write(queries.hold, ids, when)
        return released

    async def _send_thread(self, items: list[queries.Due]) -> tuple[int, bool]:
        """(alerts sent, whether all went) for one chat topic: a digest or one by one."""
        first = items[0]
        if len(items) > self._digest_threshold or (is_digest(first.plan) and len(items) > 1):
            if await self._later(items):
                return 0, False
            covered = await self._guarded(items, self._send_digest(items), 0)
            return covered, covered == len(items)
        sent = 0
        for n, item in enumerate(items[: self.PER_CHAT_PER_ROUND]):
            if await self._later(items[n:]):
                return sent, False
            if not await self._guarded([item], self._send_alert(item), False):
                return sent, False
            sent += 1
        return sent, sent == len(items)

    async def _later(self, items: list[queries.Due]) -> bool:
        """Hold these alerts of one chat in the outbox until the chat's turn, when that is
        more than LONGEST_WAIT away (True): a round waits for no chat's own limit (a group's
        20 a minute), so the next round, and a quiet chat's alert in it, come soon."""
        delay = self._pacer.delay(items[0].chat_id, items[0].is_group)
        if delay <= self.LONGEST_WAIT:
            return False
        ids = [item.delivery_id for item in items]
        await self._write(queries.hold, ids, utcnow() + timedelta(seconds=delay))
        return True

    async def _send_digest(self, items: list[queries.Due]) -> int:
        """One message listing the first of these alerts; how many it took (0: they wait).

        An alert that cannot be listed (a bug in formatting) is postponed alone, so that it
        does not hold the others back round after round; they go without it.
        """
        await self._pacer.wait_turn(items[0].chat_id, items[0].is_group)
        try:
            text, covered = format_digest(list(map(_digest_item, items)))
        except Exception:
            items = await self._listable(items)
            if not items:
                return 0
            text, covered = format_digest(list(map(_digest_item, items)))
        ok = await self._deliver(items[:covered], text, buttons.for_digest(), editable=False)
        return covered if ok else 0

    async def _listable(self, items: list[queries.Due]) -> list[queries.Due]:
        """The alerts a digest can list, each tried alone; the others are postponed."""
        listable = []
        for item in items:
            try:
                format_digest([_digest_item(item)])
            except Exception as exc:
                log.exception("chat %s: alert %s cannot be listed", item.chat_id, item.delivery_id)
                await self._postpone([item], f"{type(exc).__name__}: {exc}")
            else:
                listable.append(item)
        return listable

    async def _send_alert(self, item: queries.Due) -> bool:
        """One alert as its own message, editable later; False when it has to wait."""
        await self._pacer.wait_turn(item.chat_id, item.is_group)
        markup = buttons.for_alert(item.follow_ids)
        return await self._deliver([item], _alert_text(item), markup, editable=True)

    async def _revise_chat(self, items: list[queries.Due]) -> int:
        """Edit a chat's sent alerts to name the other outlets that carried their stories.

        An edit that has to wait (a 429 above all) ends the chat's edits for this round.
        """
        done = 0
        for n, item in enumerate(items):
            if await self._later(items[n:]):
                break
            await self._pacer.wait_turn(item.chat_id, item.is_group)
            edited, go_on = await self._guarded([item], self._revise(item), (False, False))
            done += edited
            if not go_on:
                break
        return done

    async def _revise(self, item: queries.Due) -> tuple[bool, bool]:
        """One edit, best effort: an alert that can no longer be edited keeps its old text.

        (Telegram took the edit, the chat's next edit may follow in this round.)
        """
        assert item.message_id is not None  # due_revisions only returns sent single alerts
        edited = False
        try:
            async with self._in_flight:
                await self._pacer.start_send(item.chat_id)
                await self._bot.edit_message_text(
                    _alert_text(item),
                    item.chat_id,
                    item.message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_markup=buttons.for_alert(item.follow_ids),
                )
        except RetryAfter as exc:
            await self._hold_chat(item.chat_id, exc)
            return False, False
        except Forbidden:
            await self._write(queries.deactivate_chat, item.chat_id)
            return False, False
        except BadRequest as exc:  # deleted, too old, unchanged: nothing more to do
            log.info("alert %s not edited: %s", item.delivery_id, exc.message)
        except NetworkError as exc:  # timeouts and 5xx
            log.warning("editing alert %s failed (%s); will retry", item.delivery_id, exc)
            await self._write(queries.hold, [item.delivery_id], utcnow() + REVISE_RETRY)
            return False, False
        except TelegramError as exc:  # e.g. the chat moved: its old messages stay as they are
            log.info("alert %s not edited: %s", item.delivery_id, exc)
        else:
            edited = True
        await self._write(queries.revised, item.delivery_id)
        return edited, True

    async def _hold_chat(self, chat_id: int, exc: RetryAfter) -> None:
        """Telegram asked to wait before the chat's next message or edit: hold all of them."""
        until = utcnow() + _retry_after(exc)
        await self._write(queries.postpone_chat, chat_id, until, "429 Too Many Requests")

    async def _deliver(
        self,
        items: list[queries.Due],
        text: str,
        markup: InlineKeyboardMarkup | None,
        *,
        editable: bool,
    ) -> bool:
        """Send one message for these alerts of one chat and record the outcome.

        False when they have to wait; whatever happened, none is dropped. An `editable`
        message (a single alert) keeps its id, to be edited when the story spreads.
        """
        chat_id, ids = items[0].chat_id, [item.delivery_id for item in items]
        try:
            async with self._in_flight:
                await self._pacer.start_send(chat_id)
                message_id = await self._send(items, text, markup)
                await self._write(queries.mark_sent, ids, message_id if editable else None)
        except RetryAfter as exc:
            await self._hold_chat(chat_id, exc)
        except ChatMigrated as exc:
            log.info("chat %s is now %s; moving its tags and alerts", chat_id, exc.new_chat_id)
            await self._write(queries.migrate_chat, chat_id, exc.new_chat_id)
        except Forbidden as exc:
            log.info("chat %s cannot receive (%s); holding its alerts", chat_id, exc.message)
            await self._write(queries.deactivate_chat, chat_id)
        except TelegramError as exc:  # network errors, timeouts, 5xx, other 400s
            if isinstance(exc, BadRequest) and _cannot_post(exc.message):
                log.info("chat %s cannot take alerts (%s); holding them", chat_id, exc.message)
                await self._write(queries.deactivate_chat, chat_id)
            else:
                log.warning("alerts %s failed (%s); will retry", ids, exc)
                await self._postpone(items, str(exc))
        else:
            return True
        return False

    async def _send(
        self, items: list[queries.Due], text: str, markup: InlineKeyboardMarkup | None
    ) -> int:
        """Send, falling back to plain text if Telegram cannot parse the HTML; the message id."""
        chat_id = items[0].chat_id
        where = {
            "message_thread_id": items[0].thread_id,
            "reply_markup": markup,
            "allow_paid_broadcast": self.paid_broadcast,
        }
        try:
            message = await self._bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **where,
            )
        except BadRequest as exc:
            if "can't parse entities" not in exc.message.lower():
                raise
            log.warning(
                "Telegram refused the HTML of %s (%s); sending it as plain text",
                _which(items),
                exc.message,
            )
            message = await self._bot.send_message(chat_id, _plain_text(text), **where)
        return message.message_id

    async def _write(self, change: Callable[..., Awaitable[None]], *args: object) -> None:
        """Apply one outbox or chat change in its own transaction."""
        async with self._store.transaction() as session:
            await change(session, *args)
