"""Wiring and lifecycle: the store, the poller, the sender and the Telegram application.

Everything is built here from `Settings` and passed down; nothing lives in module globals,
so tests run whole bots in one process and later versions can run several processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.config import ConfigError, Settings
from bot.core.aliases import AliasTable
from bot.delivery.limits import Limits, Pacer
from bot.delivery.sender import Sender
from bot.ingest import IndexCache, Ingestor
from bot.sources.fetch import Fetcher
from bot.sources.guard import MAX_URL_LENGTH
from bot.sources.opml import bundled_catalogue, read_opml
from bot.store import queries
from bot.store.db import Store, describe
from bot.store.models import Source, utcnow
from bot.telegram import texts
from bot.telegram.commands import Commands
from bot.vocabulary import Vocabulary

log = logging.getLogger(__name__)

POLL_CONCURRENCY = 8
SEND_RATE_MARGIN = 0.97  # Telegram counts arrivals; stay a little under its limit
SHUTDOWN_GRACE_SECONDS = 3.0  # per step; the whole stop stays under 10 s


class Poller:
    """Starts a poll for every source whose next poll time has come, a few at a time.

    Each poll is a task of its own, so one slow feed never holds back the others, and a
    source still being polled is not started twice. `stop` cancels what is in flight.
    """

    def __init__(self, store: Store, ingestor: Ingestor, *, search: bool = True) -> None:
        self._store = store
        self._ingestor = ingestor
        self._search = search  # poll the news search feeds (off when SEARCH_FEEDS is empty)
        self._slots = asyncio.Semaphore(POLL_CONCURRENCY)
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    async def tick(self) -> None:
        await self._ingestor.flush()  # what the last polls learned, before reading what is due
        async with self._store.transaction() as session:
            due = await queries.due_sources(session, utcnow(), search=self._search)
        for source in due:
            if source.id not in self._in_flight:
                task = asyncio.create_task(self._poll(source), name=f"poll-{source.id}")
                self._in_flight[source.id] = task
                task.add_done_callback(lambda _t, s=source.id: self._in_flight.pop(s, None))

    async def _poll(self, source: Source) -> None:
        async with self._slots:
            try:
                await self._ingestor.poll(source)
            except Exception:  # one broken source must not stop the others
                log.exception("polling source %s failed", source.id)

    async def stop(self) -> None:
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def load_operator_sources(store: Store, settings: Settings) -> int:
    """Make the OPML file (or the bundled catalogue) the operator's source list."""
    path = settings.sources or bundled_catalogue()
    try:
        feeds = read_opml(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"SOURCES: cannot read {path}: {exc}") from None
    usable = [(f.url, f.title) for f in feeds if len(f.url) <= MAX_URL_LENGTH]
    if len(usable) < len(feeds):
        log.warning(
            "%d feeds in %s have addresses too long to poll", len(feeds) - len(usable), path
        )
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, usable)
    return len(usable)


def build_application(settings: Settings) -> Application:
    """PTB's application, pointed at the configured Bot API server."""
    return (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .build()
    )


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's last resort for a failing handler: log it (redacted) and keep running."""
    log.error("handling an update failed", exc_info=context.error)


class NewsBot:
    """One running bot: `start()` brings every part up, `stop()` takes them down in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url)
        self.fetcher = Fetcher(
            allow_private_networks=settings.allow_private_networks, http2=settings.http2
        )
        vocabulary = Vocabulary(self.store, AliasTable.load())
        self.application = build_application(settings)
        self.ingestor = Ingestor(
            self.store,
            self.fetcher,
            IndexCache(self.store, vocabulary),
            self._notify,
            poll_interval=settings.poll_interval,
        )
        pacer = Pacer(Limits(global_per_second=settings.send_rate * SEND_RATE_MARGIN))
        self.commands = Commands(
            self.store,
            vocabulary,
            self.ingestor,
            settings.allow_private_networks,
            settings.search_templates,
            pacer,
        )
        self.commands.register(self.application)
        self.application.add_error_handler(_log_error)
        self.sender = Sender(
            self.store,
            self.application.bot,
            pacer=pacer,
            digest_threshold=settings.digest_threshold,
            paid_broadcast=settings.send_rate > 30,  # Telegram's free rate: 30 messages a second
        )
        self.poller = Poller(self.store, self.ingestor, search=bool(settings.search_templates))
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self.poller.tick,
            "interval",
            seconds=min(settings.poll_interval, 10),
            next_run_time=utcnow(),
            max_instances=1,
            coalesce=True,
            id="poll",
        )
        self._delivering: asyncio.Task[None] | None = None

    async def _notify(self, chat_id: int, source: Source) -> bool:
        """Tell a chat that a feed it added keeps failing (a channel's managers, not its
        subscribers); False if no one could be told."""
        async with self.store.transaction() as session:
            recipients = await queries.notice_recipients(session, chat_id)
        told = False
        for recipient, channel in recipients:
            try:
                await self.application.bot.send_message(
                    recipient, texts.failing_source(source, channel), parse_mode=ParseMode.HTML
                )
            except TelegramError as exc:
                log.warning("could not tell chat %s about a failing feed: %s", recipient, exc)
            else:
                told = True
        return told

    async def start(self) -> None:
        await self.store.migrate()
        count = await load_operator_sources(self.store, self.settings)
        log.info("database %s ready; %d operator sources", describe(self.store.url), count)
        await self.application.initialize()
        await self.application.bot.set_my_commands(self.commands.menu())
        await self.application.start()
        await self.application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        self.scheduler.start()
        self._delivering = asyncio.create_task(self.sender.run(self.ingestor.wake))
        log.info("newsbot is running as @%s", self.application.bot.username)

    async def stop(self) -> None:
        """Stop every part, each even if an earlier one failed, within a few seconds."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.poller.stop()
        try:
            await self.ingestor.flush()
        except Exception:  # an early poll next time is all it costs
            log.warning("could not record the last unchanged polls", exc_info=True)
        if self._delivering is not None:
            self._delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivering
        app = self.application
        steps: list[tuple[str, Callable[[], Awaitable[object]], bool]] = [
            ("updates", app.updater.stop, app.updater.running),
            ("handlers", app.stop, app.running),
            ("telegram", app.shutdown, True),
            ("fetcher", self.fetcher.aclose, True),
            ("store", self.store.close, True),
        ]
        for name, step, needed in steps:
            if not needed:
                continue
            try:
                await asyncio.wait_for(step(), SHUTDOWN_GRACE_SECONDS)
            except Exception:
                log.exception("stopping the %s failed; going on", name)


async def run(settings: Settings) -> None:
    """Run the bot until SIGTERM or SIGINT, then stop every part cleanly."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    bot = NewsBot(settings)
    try:
        await bot.start()
        await stopping.wait()
        log.info("stopping")
    finally:
        await bot.stop()
    log.info("stopped")
