"""One poll of one source: fetch -> parse -> dedup -> match -> outbox.

This is the only module that knows the order of the stages; each stage knows nothing of
the others. The article, its story keys and its outbox rows commit in one transaction, so
a crash between two stages loses nothing and queues nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.dedup import outlet_name, same_outlet, story_keys
from bot.core.matching import TagIndex
from bot.core.tags import Tag, TagError, make_tag
from bot.core.text import normalize
from bot.sources.backoff import next_poll_delay
from bot.sources.feed import pack, unpack
from bot.sources.fetch import Fetcher, FetchResult
from bot.sources.parse import ParsedFeed, parse_document, parse_quickly
from bot.store import queries
from bot.store.db import Store
from bot.store.models import TITLE_LENGTH, Source, utcnow
from bot.vocabulary import (
    Pairs,
    Vocabulary,
    chat_tag_key,
    definitions_in,
    learn_from,
    parse_chat_tag_key,
)

log = logging.getLogger(__name__)

REPORT_FAILURE_AFTER = timedelta(hours=24)
# An alert is edited to list the other outlets that carried its story for a day after it
# went out, and a minute after the first new one, so several arriving together make one edit.
REVISE_WITHIN = timedelta(hours=24)
REVISE_AFTER = timedelta(minutes=1)
# Tells a chat that a feed it added keeps failing; True once the notice went out.
Notify = Callable[[int, Source], Awaitable[bool]]


class IndexCache:
    """The TagIndex of every followed tag, rebuilt aside when follows or aliases change.

    Follows and aliases are fingerprinted from the database, not from this process's own
    commands, so a change made through another process is seen too. A chat's own aliases
    enter the index under keys that match for that chat only (`chat_tag_key`).
    """

    def __init__(self, store: Store, vocabulary: Vocabulary) -> None:
        self._store = store
        self._vocabulary = vocabulary
        self._fingerprint: tuple[int, ...] | None = None
        self._index = TagIndex(())
        self._lock = asyncio.Lock()

    async def current(self, session: AsyncSession) -> TagIndex:
        """The index as of now, checked (one query) and if need be rebuilt in `session`."""
        async with self._lock:
            fingerprint = await queries.index_fingerprint(session)
            if fingerprint == self._fingerprint:
                return self._index
            names = [name for _key, name in await queries.followed_tags(session)]
            chat_aliases = await queries.followed_chat_aliases(session)
            table = await self._vocabulary.table()
            self._index = await asyncio.to_thread(self._build, names, chat_aliases, table)
            self._fingerprint = fingerprint
            return self._index

    @staticmethod
    def _build(
        names: list[str], chat_aliases: list[tuple[int, str, str, str]], table: AliasTable
    ) -> TagIndex:
        tags = []
        for name in names:
            try:
                tags.append(make_tag(name, table))
            except TagError:  # stored before a rule change made it invalid: skip, keep going
                log.warning("skipping a followed tag that no longer parses: %r", name)
        for chat_id, tag_key, tag_name, alias in chat_aliases:
            if term := normalize(alias):
                tags.append(Tag(key=chat_tag_key(chat_id, tag_key), name=tag_name, terms=(term,)))
        return TagIndex(tags)


@dataclass(frozen=True)
class PollReport:
    """What one poll did, for logs and for `newsbot` commands."""

    source_id: int
    url: str
    items: int = 0
    new_articles: int = 0
    alternates: tuple[str, ...] = ()  # feeds a page links to, better polled than the page
    queued: int = 0
    not_modified: bool = False
    error: str | None = None


async def _follow_move(session: AsyncSession, source: Source, result: FetchResult) -> None:
    """A 301 or 308: the feed moved for good, so poll it at its new address from now on
    (unless another source already has that address)."""
    moved_to = result.permanent_redirect
    if moved_to and not await queries.source_by_url(session, moved_to):
        source.url = moved_to


class _Reading:
    """How many polls are still fetching or parsing, so that the writer can wait a moment
    for them (`settle`) and write them in the same batch."""

    LINGER = 0.02  # seconds the writer waits at most: alerts are not held up noticeably

    def __init__(self) -> None:
        self._count = 0
        self._changed = asyncio.Event()

    @contextlib.contextmanager
    def one(self) -> Iterator[Callable[[], None]]:
        """Count a poll while it reads; the callable yielded ends the count early."""
        self._count += 1
        counted = True

        def done() -> None:
            nonlocal counted
            if counted:
                counted = False
                self._count -= 1
                self._changed.set()

        try:
            yield done
        finally:
            done()

    async def settle(self, enough: Callable[[], bool]) -> None:
        """Wait until no poll is reading, `enough()` holds, or LINGER has passed."""
        if self.LINGER <= 0:
            return
        deadline = asyncio.get_running_loop().time() + self.LINGER
        while self._count and not enough():
            self._changed.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._changed.wait()
            except TimeoutError:
                return


@dataclass(frozen=True)
class _Item:
    """An item to store, with what can be worked out before the write: its story keys and
    the definitions it spells out."""

    article: Article
    keys: list[str]
    definitions: Pairs


@dataclass
class _Job:
    """A poll's parsed items waiting to be stored; `done` gets (new stories, alerts queued)."""

    source_id: int
    feed: ParsedFeed
    result: FetchResult
    digest: bytes  # of the body (see `Source.body_digest`)
    items: list[_Item]
    done: asyncio.Future[tuple[int, int]]


def _story_of(
    keys: list[str],
    known: dict[str, queries.KnownStory],
    first: dict[str, tuple[int, int]],
    stories: dict[tuple[int, int], queries.KnownStory],
) -> queries.KnownStory | None:
    """The stored story an item is another copy of: stored before, or new in this batch."""
    for key in keys:
        if story := known.get(key):
            return story
    return next((stories[first[key]] for key in keys if key in first), None)


def _alerts_for(
    story: queries.KnownStory, matched: dict[str, str], follows: list[queries.Recipient]
) -> dict[int, queries.Queued]:
    """Each chat's alert for a story whose tags `matched` (tag key -> term)."""
    by_chat: dict[int, queries.Queued] = {}
    for follow in follows:
        term = matched.get(follow.tag_key)
        if term is None:
            term = matched.get(chat_tag_key(follow.chat_id, follow.tag_key))
        if term is None or follow.followed_at > story.first_seen_at:
            continue
        queued = by_chat.setdefault(follow.chat_id, queries.Queued({}, follow.thread_id))
        queued.matched.setdefault(follow.tag_name, term)
    return by_chat


class Ingestor:
    """Polls sources and fills the outbox; `wake` is set whenever alerts were queued."""

    FLUSH_AT = 100  # unchanged polls noted before they are written (see `flush`)
    BATCH_AT = 50  # polls written in one transaction at most (see `_store_articles`)

    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        index: IndexCache,
        notify: Notify | None = None,
        poll_interval: float = 300.0,
    ) -> None:
        self._store = store
        self._fetcher = fetcher
        self._index = index
        self._notify = notify
        self._interval = poll_interval
        self._polling: dict[int, asyncio.Lock] = {}
        self._successes: dict[int, queries.PollSuccess] = {}  # see `flush`
        self._pending: list[_Job] = []  # polls waiting to be stored (see `_store_articles`)
        self._writing = asyncio.Lock()
        self._reading = _Reading()
        self.wake = asyncio.Event()

    async def poll(self, source: Source | int, *, fresh: bool = False) -> PollReport:
        """Poll one source, given as its id or as a row just read (the poller reads every
        due source in one query); a second poll of the same source waits for the first.

        The row only says what to fetch: storing stories reads it again in its transaction.
        A `fresh` poll reads the document whole, as if for the first time (no conditional
        GET, no item skipped), so that a chat adding a source polled before (for another
        chat, by another process) is told what it lists, and a page is replaced by its feed.
        """
        source_id = source if isinstance(source, int) else source.id
        lock = self._polling.setdefault(source_id, asyncio.Lock())
        try:
            async with lock:  # a poll waiting here is not counted as reading: it cannot
                with self._reading.one() as read:  # join the batch its source's poll is in
                    if isinstance(source, int):
                        async with self._store.transaction() as session:
                            source = await session.get(Source, source_id)
                    if source is None:
                        return PollReport(source_id, "", error="source no longer exists")
                    return await self._poll(source, read, fresh)
        finally:
            if not lock.locked():
                self._polling.pop(source_id, None)

    async def _poll(self, source: Source, read: Callable[[], None], fresh: bool) -> PollReport:
        """Fetch, parse and store; `read()` says this poll has nothing more to read."""
        result = await self._fetcher.fetch(
            source.url,
            etag=None if fresh else source.etag,
            last_modified=None if fresh else source.last_modified,
            trusted=source.operator,
        )
        if result.error:
            read()
            return await self._failed(source, result.error, result)
        digest = hashlib.blake2b(result.content, digest_size=16).digest()
        if result.not_modified or (digest == source.body_digest and not fresh):
            # Unchanged, by the server's word (304) or by the bytes (servers without ETags).
            read()
            await self._not_modified(source, result, source.feed_ttl)
            return PollReport(source.id, source.url, not_modified=True)
        # Items exactly as the last stored poll had them were handled then: the parser
        # skips them (by fingerprint) before the costly part of reading them.
        seen = frozenset() if fresh else unpack(source.seen_items)
        feed = await self._parse(result, seen)
        read()  # from here on the poll only writes, or waits for the writer
        if feed.error and not feed.fingerprints:
            return await self._failed(source, feed.error, result)
        try:
            new, queued = await self._store_articles(source, feed, result, digest)
        except SQLAlchemyError as exc:
            log.exception("storing %s failed", source.url)
            return await self._failed(source, f"could not store the items ({type(exc).__name__})")
        log.info("polled %s: %d new, %d alerts queued", source.url, new, queued)
        return PollReport(
            source.id,
            source.url,
            items=len(feed.fingerprints),
            new_articles=new,
            queued=queued,
            alternates=feed.alternates,
        )

    @staticmethod
    async def _parse(result: FetchResult, seen: frozenset[int]) -> ParsedFeed:
        """The fetched document, parsed on the event loop if it is a common feed (a
        millisecond or two, less than a thread's round trip costs: 0.9 of 4.6 ms a changed
        feed in round 1 of bench/poll.py), else in a thread (see `parse_quickly`)."""
        content, content_type = result.content, result.headers.get("content-type")
        feed = parse_quickly(content, result.url, content_type=content_type, seen=seen)
        if feed is None:
            feed = await asyncio.to_thread(
                parse_document, content, result.url, content_type=content_type, seen=seen
            )
        return feed

    async def _store_articles(
        self, source: Source, feed: ParsedFeed, result: FetchResult, digest: bytes
    ) -> tuple[int, int]:
        """Store new stories and queue their alerts; returns (new stories, alerts queued).

        Polls that finish while another is being written wait and are written together,
        in one transaction (group commit): a transaction costs about as much for eight
        feeds as for one.
        """
        # An item with no link, guid or title cannot be recognised again: never alert it.
        search = source.added_by == "search"
        items = [
            _Item(a, keys, definitions_in(a))
            for a in feed.articles
            if (keys := story_keys(a, source.url, from_search=search))
        ]
        done = asyncio.get_running_loop().create_future()
        job = _Job(source.id, feed, result, digest, items, done)
        self._pending.append(job)
        async with self._writing:
            while not job.done.done():
                # Polls still reading their feeds are worth a moment's wait: a batch of
                # eight costs hardly more than a batch of one.
                await self._reading.settle(lambda: len(self._pending) >= self.BATCH_AT)
                batch = self._pending[: self.BATCH_AT]
                del self._pending[: self.BATCH_AT]
                await self._write_batch(batch)
        return job.done.result()

    async def _write_batch(self, batch: list[_Job]) -> None:
        """Write `batch`; every job's future gets its outcome, or goes back in line if the
        writing poll is cancelled, for the next one to write."""
        try:
            await self._settle(batch)
        except asyncio.CancelledError:
            self._pending[:0] = [job for job in batch if not job.done.done()]
            raise
        except Exception as exc:  # a bug of ours: every poll of the batch reports it
            for job in batch:
                if not job.done.done():
                    job.done.set_exception(exc)

    async def _settle(self, batch: list[_Job]) -> None:
        """One transaction for the batch; if it fails, each job in one of its own, so that
        one bad feed fails alone."""
        try:
            outcomes = await self._write_once(batch)
        except SQLAlchemyError as exc:
            if len(batch) == 1:
                batch[0].done.set_exception(exc)
                return
            for job in batch:
                await self._settle([job])
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            job.done.set_result(outcome)
        if any(queued for _new, queued in outcomes):
            self.wake.set()  # here, not by the polls: a cancelled poll's alerts count too

    async def _write_once(self, batch: list[_Job]) -> list[tuple[int, int]]:
        """`_write`, and once more if another poll stored one of these stories meanwhile."""
        try:
            return await self._write(batch)
        except IntegrityError:
            return await self._write(batch)

    async def _write(self, batch: list[_Job]) -> list[tuple[int, int]]:
        """Store a batch of polls' new stories, cover and queue, in about eight statements.

        Whatever can be read or worked out is, before the first write: on SQLite that write
        takes the database's one write lock, which every other process waits for until the
        commit. The transaction is not `durable`: a poll lost to a power cut is redone by
        the next one (`Store.transaction`).
        """
        async with self._store.transaction(durable=False) as session:
            # The time is taken before the index: a follow made after this instant is not
            # in the index, and it also counts as made after the story was first seen.
            now = utcnow()
            index = await self._index.current(session)
            sources = await queries.sources_by_id(session, [job.source_id for job in batch])
            positions = [i for i, job in enumerate(batch) if job.source_id in sources]
            jobs = [(batch[i], sources[batch[i].source_id]) for i in positions]
            known = await queries.known_stories(
                session, (k for job, _s in jobs for item in job.items for k in item.keys)
            )
            # A story twice in the batch is new once, for the first poll that has it.
            first: dict[str, tuple[int, int]] = {}  # story key -> (job, item) new in the batch
            fresh: list[tuple[int, int]] = []
            for j, (job, _source) in enumerate(jobs):
                for position, item in enumerate(job.items):
                    if not any(k in known or k in first for k in item.keys):
                        fresh.append((j, position))
                        first.update(dict.fromkeys(item.keys, (j, position)))
            # The tags each item matches, and who follows them; a feed's first poll only
            # learns what is already there, so it matches nothing.
            matches = {
                (j, position): found
                for j, (job, source) in enumerate(jobs)
                if source.primed
                for position, item in enumerate(job.items)
                if (found := index.match(item.article))
            }
            follows = await self._audiences(session, jobs, matches)

            # The writes: new stories first, all inserted in one round trip.
            ids = await queries.insert_articles(
                session,
                [
                    queries.NewStory(s.id, item.article, item.keys, announced=s.primed)
                    for j, position in fresh
                    for (job, s) in [jobs[j]]
                    for item in [job.items[position]]
                ],
                now,
            )
            stories: dict[tuple[int, int], queries.KnownStory] = {}
            for (j, position), article_id in zip(fresh, ids, strict=True):
                job, source = jobs[j]
                item = job.items[position]
                search = source.added_by == "search"
                stories[j, position] = queries.KnownStory(
                    article_id,
                    source.id,
                    source.operator and source.primed,
                    now,
                    outlet_name(source.title, item.article.title, from_search=search),
                )
                await learn_from(session, article_id, source.url, item.definitions)
            alerts: list[tuple[int, dict[int, queries.Queued]]] = []
            feed_of: dict[tuple[int, int], int] = {}  # (article, chat) -> the feed queueing it
            for j, (job, source) in enumerate(jobs):
                audience = follows.get(None if source.operator else source.id, [])
                for position, item in enumerate(job.items):
                    story = stories.get((j, position))
                    if story is None:
                        story = _story_of(item.keys, known, first, stories)
                        if story is None or story.source_id == source.id:
                            continue
                        await self._cover(session, source, story, item.article, now)
                        if story.reached_everyone:
                            continue  # every chat this feed speaks to was considered at first sight
                    if found := matches.get((j, position)):
                        by_chat = _alerts_for(story, found, audience)
                        alerts.append((story.article_id, by_chat))
                        for chat_id in by_chat:
                            feed_of.setdefault((story.article_id, chat_id), j)
            inserted = await queries.enqueue_many(session, alerts)
            queued = Counter(feed_of[alert] for alert in inserted)
            for job, source in jobs:
                self._remember_poll(source, job, now)
                self._schedule(source, now, job.result, job.feed.ttl_seconds)
                await _follow_move(session, source, job.result)
        new = Counter(j for j, _position in fresh)
        outcomes = [(0, 0)] * len(batch)  # a source deleted meanwhile stores nothing
        for j, position in enumerate(positions):
            outcomes[position] = (new[j], queued[j])
        return outcomes

    @staticmethod
    async def _audiences(
        session: AsyncSession,
        jobs: list[tuple[_Job, Source]],
        matches: dict[tuple[int, int], dict[str, str]],
    ) -> dict[int | None, list[queries.Recipient]]:
        """Who follows the tags `matches` found, by audience: read once for all the
        operator's feeds (None: they speak to every chat) and once per chat's own feed.
        A chat's own alias (`chat_tag_key`) counts as its tag."""
        audiences: dict[int | None, tuple[Source, set[str]]] = {}
        for (j, _position), matched in matches.items():
            source = jobs[j][1]
            _any, keys = audiences.setdefault(
                None if source.operator else source.id, (source, set())
            )
            keys.update(own[1] if (own := parse_chat_tag_key(key)) else key for key in matched)
        return {
            audience: await queries.recipients(session, keys, source)
            for audience, (source, keys) in audiences.items()
        }

    @staticmethod
    async def _cover(
        session: AsyncSession,
        source: Source,
        story: queries.KnownStory,
        article: Article,
        now: datetime,
    ) -> None:
        """Another outlet carried a stored story: note it, and have recent alerts say so.

        A news search names the outlet after the headline; any other feed is its outlet.
        """
        search = source.added_by == "search"
        publisher = outlet_name(source.title, article.title, from_search=search)
        if not publisher or publisher == source.url or (search and publisher == source.title):
            return  # a feed with no title, or a search item that names no outlet
        if same_outlet(publisher, story.outlet):
            return
        if await queries.add_coverage(session, story.article_id, publisher, article.link, now):
            await queries.revise_alerts(
                session, story.article_id, sent_since=now - REVISE_WITHIN, at=now + REVISE_AFTER
            )

    @staticmethod
    def _remember_poll(source: Source, job: _Job, now: datetime) -> None:
        """What the poll read, for the next one, whichever process makes it."""
        feed, result = job.feed, job.result
        source.etag, source.last_modified = result.etag, result.last_modified
        source.body_digest, source.seen_items = job.digest, pack(feed.fingerprints)
        source.feed_ttl = feed.ttl_seconds
        if feed.title and source.title in ("", source.url):
            source.title = feed.title[:TITLE_LENGTH]
        source.primed = True
        source.record_poll(now, None)

    def _schedule(
        self, source: Source, now: datetime, result: FetchResult | None, ttl: float | None = None
    ) -> None:
        """When to poll next: the interval, stretched by the server's hints and by backoff."""
        delay = next_poll_delay(
            self._interval,
            failures=source.failures,
            retry_after=result.retry_after if result else None,
            max_age=result.max_age if result else None,
            ttl=ttl,
        )
        source.next_poll_at = now + timedelta(seconds=delay)

    async def _not_modified(self, source: Source, result: FetchResult, ttl: float | None) -> None:
        """Nothing new, the commonest answer: noted now, written with others by `flush`."""
        now = utcnow()
        delay = next_poll_delay(
            self._interval,
            failures=0,
            retry_after=result.retry_after,
            max_age=result.max_age,
            ttl=ttl,
        )
        self._successes[source.id] = queries.PollSuccess(
            source.id, now, now + timedelta(seconds=delay), result.etag, result.last_modified
        )
        if result.permanent_redirect:  # rare: written at once
            async with self._store.transaction() as session:
                row = await session.get(Source, source.id)
                if row is not None:
                    await _follow_move(session, row, result)
        if len(self._successes) >= self.FLUSH_AT:
            await self.flush()

    async def flush(self) -> None:
        """Write the unchanged polls noted since the last flush, in one statement.

        One transaction per 304 cost more than the request itself. Until written, the
        sources stay claimed (see `Poller`), so no process polls them again meanwhile; a
        crash before then costs a poll when the claims lapse. If writing fails, the notes
        are kept for the next flush. Like the polls' stories, they are not `durable`.
        """
        successes, self._successes = self._successes, {}
        if not successes:
            return
        try:
            async with self._store.transaction(durable=False) as session:
                await queries.record_successes(session, list(successes.values()))
        except BaseException:  # kept for the next flush (a newer poll's note wins)
            self._successes = successes | self._successes
            raise

    async def _failed(
        self, source: Source, error: str, result: FetchResult | None = None
    ) -> PollReport:
        """Remember the failure and when to try again; report a long failure once."""
        now = utcnow()
        async with self._store.transaction() as session:
            row = await session.get(Source, source.id)
            if row is None:
                return PollReport(source.id, source.url, error=error)
            row.record_poll(now, error)
            self._schedule(row, now, result)
            log.warning("polling %s failed: %s", source.url, error)
            due = not row.failure_reported and now - row.failing_since >= REPORT_FAILURE_AFTER
            chats = await queries.chats_of_source(session, row.id) if due else []
        if due and self._notify is not None:
            delivered = [await self._notify(chat_id, row) for chat_id in chats]
            # Told once is enough: a chat that cannot be told (it blocked the bot) must not
            # make the others hear it again at every poll; if none could, try next time.
            if any(delivered):
                async with self._store.transaction() as session:
                    await queries.mark_failure_reported(session, row.id)
        return PollReport(source.id, source.url, error=error)
