"""Wiring and lifecycle: the store, the polling, the sender and the Telegram application.

Everything is built here from `Settings` and passed down; nothing lives in module globals,
so tests run whole bots in one process, and `newsbot run` can start more polling processes
(`newsbot poll`) that share only the database with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import sys
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from telegram import Bot, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.config import ConfigError, Settings
from bot.core.aliases import AliasTable
from bot.delivery.limits import Limits, Pacer
from bot.delivery.sender import Sender
from bot.logs import setup_logging
from bot.polling import Polling
from bot.sources.guard import MAX_URL_LENGTH
from bot.sources.opml import bundled_catalogue, read_opml
from bot.store import queries
from bot.store.db import Store, describe
from bot.store.models import Source
from bot.telegram import texts
from bot.telegram.commands import Commands
from bot.vocabulary import Vocabulary

log = logging.getLogger(__name__)

SEND_RATE_MARGIN = 0.97  # Telegram counts arrivals; stay a little under its limit
SHUTDOWN_GRACE_SECONDS = 3.0  # per step; the whole stop stays under 10 s


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


class FailureNotices:
    """Tells a chat that a feed it added keeps failing (a channel's managers, not its
    subscribers); the ingestor's `notify`, in whichever process polled the feed."""

    def __init__(self, store: Store, bot: Bot) -> None:
        self._store = store
        self._bot = bot

    async def __call__(self, chat_id: int, source: Source) -> bool:
        """False if no one could be told."""
        async with self._store.transaction() as session:
            recipients = await queries.notice_recipients(session, chat_id)
        told = False
        for recipient, channel in recipients:
            try:
                await self._bot.send_message(
                    recipient, texts.failing_source(source, channel), parse_mode=ParseMode.HTML
                )
            except TelegramError as exc:
                log.warning("could not tell chat %s about a failing feed: %s", recipient, exc)
            else:
                told = True
        return told


async def _stop_steps(steps: list[tuple[str, Callable[[], Awaitable[object]], bool]]) -> None:
    """Run each needed step, each even if an earlier one failed, each within the grace."""
    for name, step, needed in steps:
        if not needed:
            continue
        try:
            await asyncio.wait_for(step(), SHUTDOWN_GRACE_SECONDS)
        except Exception:
            log.exception("stopping the %s failed; going on", name)


class NewsBot:
    """One running bot: `start()` brings every part up, `stop()` takes them down in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url)
        vocabulary = Vocabulary(self.store, AliasTable.load())
        self.application = build_application(settings)
        self.notices = FailureNotices(self.store, self.application.bot)
        self.polling = Polling(settings, self.store, vocabulary, self.notices)
        self.ingestor = self.polling.ingestor
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
        # Alerts queued by the other polling processes are found within the sender's idle
        # wait (2 s); this process's own wake it at once.
        self.poll_processes = PollProcesses(settings, settings.poll_processes - 1)
        self._delivering: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.migrate()
        count = await load_operator_sources(self.store, self.settings)
        async with self.store.transaction() as session:
            # Claims left by a crash would hold their sources back until they lapse. A
            # `newsbot poll` elsewhere may lose one it holds: a feed polled twice, no more.
            await queries.release_sources(session)
        log.info("database %s ready; %d operator sources", describe(self.store.url), count)
        await self.application.initialize()
        await self.application.bot.set_my_commands(self.commands.menu())
        await self.application.start()
        await self.application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        self.polling.start()
        self.poll_processes.start()
        self._delivering = asyncio.create_task(self.sender.run(self.ingestor.wake))
        log.info("newsbot is running as @%s", self.application.bot.username)

    async def stop(self) -> None:
        """Stop every part, each even if an earlier one failed, within a few seconds."""
        stopping_processes = asyncio.create_task(self.poll_processes.stop())
        await self.polling.stop()
        if self._delivering is not None:
            self._delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivering
        app = self.application
        await _stop_steps(
            [
                ("poll processes", lambda: stopping_processes, True),
                ("updates", app.updater.stop, app.updater.running),
                ("handlers", app.stop, app.running),
                ("telegram", app.shutdown, True),
                ("fetcher", self.polling.fetcher.aclose, True),
                ("store", self.store.close, True),
            ]
        )


class PollWorker:
    """`newsbot poll`: a process that only polls, beside `newsbot run` on one database.

    It answers no chat; its Telegram client only tells chats about failing feeds.
    """

    def __init__(self, settings: Settings) -> None:
        self.store = Store(settings.database_url)
        self.telegram = build_application(settings).bot
        vocabulary = Vocabulary(self.store, AliasTable.load())
        self.polling = Polling(
            settings, self.store, vocabulary, FailureNotices(self.store, self.telegram)
        )

    async def start(self) -> None:
        await self.store.migrate()  # at the newest already when `newsbot run` started it
        await self.telegram.initialize()
        self.polling.start()
        log.info("polling %s beside the bot", describe(self.store.url))

    async def stop(self) -> None:
        await self.polling.stop()
        await _stop_steps(
            [
                ("telegram", self.telegram.shutdown, True),
                ("fetcher", self.polling.fetcher.aclose, True),
                ("store", self.store.close, True),
            ]
        )


def _poll_process(settings: Settings, parent: Connection) -> None:
    """The entry point of a poll process that `newsbot run` started; it also stops when
    `parent`'s other end closes, which happens however the bot's process ends. What ends
    it early is logged here, through the redacting formatter (the token appears in some
    of Telegram's errors), not printed by multiprocessing."""
    setup_logging([settings.token], label=multiprocessing.current_process().name)
    try:
        asyncio.run(until_stopped(PollWorker(settings), parent))
    except InvalidToken:
        log.error("Telegram rejected TELEGRAM_BOT_TOKEN; copy it again from @BotFather")
        sys.exit(2)
    except Exception:
        log.exception("the poll process stopped on an error")
        sys.exit(1)


class PollProcesses:
    """The `count` extra poll processes of `newsbot run` (POLL_PROCESSES minus its own
    polling). One that ends is started again: after RESTART_AFTER seconds, twice as long
    each time it ends again within a minute of starting (a database that is down), up to
    RESTART_AFTER_AT_MOST."""

    RESTART_AFTER = 5.0
    RESTART_AFTER_AT_MOST = 300.0

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings
        self._count = count
        # Spawned, not forked: a fork would copy this process's threads' locks mid-use.
        self._context = multiprocessing.get_context("spawn")
        self._running: dict[int, BaseProcess] = {}
        self._keepers: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        self._keepers = [
            asyncio.create_task(self._keep(n), name=f"poll-process-{n}") for n in range(self._count)
        ]

    async def _keep(self, n: int) -> None:
        delay = self.RESTART_AFTER
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            watched, held = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_poll_process, args=(self._settings, watched), name=f"newsbot-poll-{n}"
            )
            process.start()
            watched.close()  # the child has its own copy; this process holds the other end
            self._running[n] = process
            try:
                await asyncio.to_thread(process.join)
            finally:
                held.close()
            if self._stopping:
                return
            if asyncio.get_running_loop().time() - started > 60:
                delay = self.RESTART_AFTER
            log.error(
                "poll process %s ended (exit code %s); starting it again in %g s",
                n,
                process.exitcode,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(2 * delay, self.RESTART_AFTER_AT_MOST)

    async def stop(self) -> None:
        """Ask every poll process to stop (SIGTERM), and kill those that do not in time."""
        self._stopping = True
        for process in self._running.values():
            if process.is_alive():
                process.terminate()
        if self._keepers:
            await asyncio.wait(self._keepers, timeout=SHUTDOWN_GRACE_SECONDS)
        for process in self._running.values():
            if process.is_alive():
                process.kill()
        for keeper in self._keepers:
            keeper.cancel()  # one may be waiting to restart its process
        await asyncio.gather(*self._keepers, return_exceptions=True)


async def until_stopped(part: NewsBot | PollWorker, lifeline: Connection | None = None) -> None:
    """Run `part` until SIGTERM or SIGINT (or `lifeline` closes), then stop it cleanly."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    if lifeline is not None:

        def lost() -> None:
            loop.remove_reader(lifeline.fileno())
            stopping.set()

        loop.add_reader(lifeline.fileno(), lost)
    try:
        await part.start()
        await stopping.wait()
        log.info("stopping")
    finally:
        await part.stop()
    log.info("stopped")
