"""Drains the outbox into Telegram, marking each alert sent only after Telegram took it.

Every failure keeps the alert: a 429 holds that chat for `retry_after`, a network error or
5xx retries with backoff, a 403 parks the chat until it speaks again, a group upgrade moves
the alert to the new chat id. A crash between the send and the mark repeats at most the one
message in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.core.article import Article
from bot.core.formatting import format_alert
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Article as ArticleRow
from bot.store.models import utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=30)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at MAX_BACKOFF: retried for ever, never dropped."""
    return min(timedelta(seconds=5 * 2 ** min(attempts, 20)), MAX_BACKOFF)


def to_value(row: ArticleRow) -> Article:
    return Article(
        title=row.title,
        link=row.link,
        guid=row.guid,
        summary=row.summary,
        content=row.content,
        categories=tuple(row.categories or ()),
        published=row.published_at,
    )


class Sender:
    """Sends due alerts in order; `run` loops until cancelled, woken early by `wake`."""

    def __init__(
        self, store: Store, bot: Bot, *, batch_size: int = 50, idle_seconds: float = 2.0
    ) -> None:
        self._store = store
        self._bot = bot
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds

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
        """Send one batch of due alerts; returns how many Telegram accepted."""
        async with self._store.transaction() as session:
            due = await queries.due_deliveries(session, utcnow(), self._batch_size)
        held: set[int] = set()
        sent = 0
        for item in due:
            if item.chat_id in held:
                continue
            if await self._deliver(item):
                sent += 1
            else:
                held.add(item.chat_id)  # keep the chat's order: its later alerts wait too
        return sent

    async def _deliver(self, item: queries.Due) -> bool:
        text = format_alert(to_value(item.article), source_name=item.source_title, tags=item.tags)
        try:
            await self._send(item.chat_id, text)
        except RetryAfter as exc:
            wait = (
                exc.retry_after
                if isinstance(exc.retry_after, timedelta)
                else timedelta(seconds=exc.retry_after)
            )
            await self._in_tx(
                queries.postpone_chat, item.chat_id, utcnow() + wait, "429: retry after"
            )
            return False
        except ChatMigrated as exc:
            log.info(
                "chat %s became %s; moving its follows and alerts", item.chat_id, exc.new_chat_id
            )
            await self._in_tx(queries.migrate_chat, item.chat_id, exc.new_chat_id)
            return False
        except Forbidden as exc:
            log.info("chat %s cannot receive (%s); holding its alerts", item.chat_id, exc.message)
            await self._in_tx(queries.deactivate_chat, item.chat_id)
            return False
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                await self._in_tx(queries.deactivate_chat, item.chat_id)
                return False
            await self._retry_later(item, exc)
            return False
        except (NetworkError, TelegramError) as exc:
            await self._retry_later(item, exc)
            return False
        await self._in_tx(queries.mark_sent, item.delivery_id)
        return True

    async def _send(self, chat_id: int, text: str) -> None:
        try:
            await self._bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as exc:
            if "can't parse entities" not in exc.message.lower():
                raise
            log.warning(
                "Telegram refused the HTML of an alert (%s); sending it as plain text", exc.message
            )
            await self._bot.send_message(chat_id, _plain(text))

    async def _retry_later(self, item: queries.Due, exc: Exception) -> None:
        async with self._store.transaction() as session:
            row = await session.get(queries.Delivery, item.delivery_id)
            attempts = row.attempts if row else 0
            await queries.postpone(
                session, item.delivery_id, utcnow() + backoff(attempts), str(exc)
            )
        log.warning(
            "alert %s to chat %s failed (%s); will retry", item.delivery_id, item.chat_id, exc
        )

    async def _in_tx(self, fn, *args) -> None:
        async with self._store.transaction() as session:
            await fn(session, *args)


def _plain(html_text: str) -> str:
    """The alert without markup, for when Telegram will not parse our HTML."""
    from selectolax.parser import HTMLParser

    return HTMLParser(html_text).text(separator="") or html_text
