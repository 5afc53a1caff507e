"""The polling side of a process: which sources to poll when, and the parts that poll them.

Every process that polls has one `Polling`: the bot's own (`newsbot run`) and each extra
`newsbot poll`. They share nothing but the database, where a process claims the sources it
is about to poll (`queries.lease_due_sources`), so that no source is polled by two at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.ingest import IndexCache, Ingestor, Notify
from bot.sources.fetch import Fetcher
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Source, utcnow
from bot.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# Polls in flight per process. The polls that finish while one batch is being written are
# written as the next (`Ingestor`), so more in flight make bigger, cheaper batches: 1.6 ms
# of CPU per changed feed in batches of 8, 1.2 in batches of 16. `Fetcher` still sends at
# most two requests at a time to one host.
POLL_CONCURRENCY = 16
CLAIM_AHEAD = 8  # sources claimed per poll at a time (see `Poller`)
AFTER_A_CRASHED_POLL = timedelta(minutes=1)  # see `Poller._poll`


class Poller:
    """Polls the sources whose time has come, a few at a time, beside other processes.

    A tick claims due sources, `claim_ahead` times as many as it polls at once, and claims
    more whenever its polls run low, until none are due: the work spreads over the
    processes by how fast each gets through it. A claim is a write transaction (about 5 ms
    of CPU on SQLite, whatever its size), so claims are large enough to cost a 304 poll
    little (about a tenth of a millisecond) and small enough to leave work for the others.

    Each poll is a task of its own, so one slow feed never holds back the others. `stop`
    cancels what is in flight and hands those sources back.
    """

    def __init__(
        self,
        store: Store,
        ingestor: Ingestor,
        *,
        search: bool = True,
        concurrency: int = POLL_CONCURRENCY,
        claim_ahead: int = CLAIM_AHEAD,
    ) -> None:
        self._store = store
        self._ingestor = ingestor
        self._search = search  # poll the news search feeds (off when SEARCH_FEEDS is empty)
        self._concurrency = concurrency
        self._claim_ahead = claim_ahead
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._claiming = asyncio.Lock()
        self._refills: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def tick(self) -> None:
        """The scheduled tick: write what the last polls learned, then claim what is due."""
        await self._ingestor.flush()
        await self._claim()

    async def idle(self) -> None:
        """Wait until no poll is in flight or being claimed: everything due was polled."""
        await self._idle.wait()

    async def _claim(self) -> None:
        if self._claiming.locked() or self._stopping:
            return  # a claim under way takes what there is room for
        async with self._claiming:
            self._idle.clear()
            try:
                room = self._claim_ahead * self._concurrency - len(self._in_flight)
                if room > 0:
                    now = utcnow()
                    # A claim a machine crash undoes is no loss: the claims die with it.
                    async with self._store.transaction(durable=False) as session:
                        due = await queries.lease_due_sources(
                            session, now, now + queries.CLAIM_LASTS, room, search=self._search
                        )
                    if self._stopping:  # stopped while claiming: hand them straight back
                        await self._release([source.id for source in due])
                        return
                    for source in due:
                        if source.id not in self._in_flight:
                            self._start(source)
            finally:
                if not self._in_flight:
                    self._idle.set()

    def _start(self, source: Source) -> None:
        task = asyncio.create_task(self._poll(source), name=f"poll-{source.id}")
        self._in_flight[source.id] = task
        task.add_done_callback(lambda _t, s=source.id: self._done(s))

    def _done(self, source_id: int) -> None:
        self._in_flight.pop(source_id, None)
        if self._stopping:
            return
        if len(self._in_flight) <= self._concurrency and not self._claiming.locked():
            # Running low: claim more now rather than at the next tick.
            refill = asyncio.create_task(self._claim(), name="poll-claim")
            self._refills.add(refill)
            refill.add_done_callback(self._refills.discard)

    async def _poll(self, source: Source) -> None:
        async with self._slots:
            try:
                await self._ingestor.poll(source)
            except Exception:  # one broken source must not stop the others
                log.exception("polling source %s failed", source.id)
                # Its claim would hold it for CLAIM_LASTS; a bug may well repeat, so it
                # waits a while, not a moment (the next claim would take it at once).
                await self._release([source.id], until=utcnow() + AFTER_A_CRASHED_POLL)

    async def _release(self, ids: list[int], until: datetime | None = None) -> None:
        """End these claims (or hold the sources until `until`); if the database will not
        have it, the claims lapse by themselves."""
        if not ids:
            return
        try:
            async with self._store.transaction() as session:
                await queries.release_sources(session, ids, until)
        except Exception:
            log.warning("could not hand back %d claimed sources", len(ids), exc_info=True)

    async def stop(self) -> None:
        """Cancel the polls in flight and end their claims, so that this or another
        process polls those sources soon rather than when the claims lapse. A claim under
        way finishes, and hands back what it claimed."""
        self._stopping = True
        stopped = list(self._in_flight)
        polls = list(self._in_flight.values())
        for task in polls:
            task.cancel()
        await asyncio.gather(*polls, *self._refills, return_exceptions=True)
        async with self._claiming:  # the scheduler's tick may be claiming
            pass
        await self._release(stopped)
        self._idle.set()


class Polling:
    """The parts that poll (fetcher, ingestor, poller) and the schedule that ticks them."""

    def __init__(
        self, settings: Settings, store: Store, vocabulary: Vocabulary, notify: Notify | None
    ) -> None:
        self.fetcher = Fetcher(
            allow_private_networks=settings.allow_private_networks, http2=settings.http2
        )
        self.ingestor = Ingestor(
            store,
            self.fetcher,
            IndexCache(store, vocabulary),
            notify,
            poll_interval=settings.poll_interval,
        )
        self.poller = Poller(store, self.ingestor, search=bool(settings.search_templates))
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

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop polling and write what the last polls learned; the fetcher stays open
        until the caller closes it (`fetcher.aclose`)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.poller.stop()
        try:
            await self.ingestor.flush()
        except Exception:  # at worst those sources are polled once more, when claims lapse
            log.warning("could not record the last polls", exc_info=True)
