"""The poller: claims due sources a few at a time, polls each once, shares the work with
the other processes polling the same database, and hands back what it did not finish."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from bot import actions
from bot.core.aliases import AliasTable
from bot.ingest import IndexCache, Ingestor
from bot.polling import AFTER_A_CRASHED_POLL, Poller
from bot.sources.fetch import Fetcher
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Source, utcnow
from bot.vocabulary import Vocabulary
from tests.fakes.feed_server import FeedServer, rss


async def _operator_feeds(store: Store, feeds: FeedServer, count: int, delay: float = 0.0):
    paths = [f"/feed{n}.xml" for n in range(count)]
    for path in paths:
        story = {"title": f"Story of {path}", "link": f"https://news.example{path}"}
        feeds.set_feed(path, rss([story], title=path), delay=delay)
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, [(feeds.url(p), p) for p in paths])
    return paths


def _poller(store: Store, fetcher: Fetcher, concurrency: int, claim_ahead: int = 4) -> Poller:
    index = IndexCache(store, Vocabulary(store, AliasTable.load()))
    ingestor = Ingestor(store, fetcher, index)
    return Poller(store, ingestor, concurrency=concurrency, claim_ahead=claim_ahead)


async def _claimed(store: Store) -> int:
    async with store.transaction() as session:
        return await session.scalar(
            select(func.count()).select_from(Source).where(Source.claimed_until.is_not(None))
        )


async def test_a_poller_claims_a_few_at_a_time_and_polls_every_due_source_once(
    store: Store, feeds: FeedServer
) -> None:
    paths = await _operator_feeds(store, feeds, 20, delay=0.2)
    async with Fetcher(allow_private_networks=True) as fetcher:
        poller = _poller(store, fetcher, concurrency=2)
        await poller.tick()
        assert await _claimed(store) == 8  # concurrency times claim_ahead, not all twenty
        await poller.idle()
    assert [feeds.request_count(path) for path in paths] == [1] * 20
    assert await _claimed(store) == 0
    async with store.transaction() as session:
        sources = await queries.all_sources(session)
        assert all(s.next_poll_at and s.next_poll_at > utcnow() for s in sources)


async def test_two_pollers_on_one_database_share_the_work_and_poll_nothing_twice(
    store: Store, feeds: FeedServer
) -> None:
    paths = await _operator_feeds(store, feeds, 40)
    async with (
        Fetcher(allow_private_networks=True, user_agent="first") as first,
        Fetcher(allow_private_networks=True, user_agent="second") as second,
    ):
        pollers = [_poller(store, fetcher, concurrency=2) for fetcher in (first, second)]
        for poller in pollers:
            await poller.tick()
        for poller in pollers:
            await poller.idle()
    assert [feeds.request_count(path) for path in paths] == [1] * 40
    by_poller = Counter(headers["user-agent"] for _path, headers in feeds.requests)
    assert set(by_poller) == {"first", "second"}


async def test_a_stopped_poller_hands_its_sources_back_at_once(
    store: Store, feeds: FeedServer
) -> None:
    await _operator_feeds(store, feeds, 3, delay=10)
    async with Fetcher(allow_private_networks=True) as fetcher:
        poller = _poller(store, fetcher, concurrency=2)
        await poller.tick()
        assert await _claimed(store) == 3
        await poller.stop()
    assert await _claimed(store) == 0
    now = utcnow()
    async with store.transaction() as session:
        again = await queries.lease_due_sources(session, now, now, 10)
    assert len(again) == 3  # due, and no longer held


@asynccontextmanager
async def _sources_locked(store: Store) -> AsyncIterator[None]:
    """Another connection holds the sources table, so that a claim waits for it."""
    async with store.engine.connect() as connection, connection.begin():
        if store.dialect == "postgresql":
            await connection.execute(text("LOCK TABLE sources IN SHARE ROW EXCLUSIVE MODE"))
        else:  # SQLite: hold the database's one write lock
            await connection.execute(text("UPDATE sources SET title = title"))
        yield


async def test_a_poller_stopped_while_it_claims_starts_nothing_and_holds_nothing(
    store: Store, feeds: FeedServer
) -> None:
    await _operator_feeds(store, feeds, 3)
    async with Fetcher(allow_private_networks=True) as fetcher:
        poller = _poller(store, fetcher, concurrency=2)
        async with _sources_locked(store):
            tick = asyncio.create_task(poller.tick())
            await asyncio.sleep(0.3)  # the tick's claim now waits for the lock
            stopping = asyncio.create_task(poller.stop())
            await asyncio.sleep(0.1)
        await asyncio.wait_for(stopping, 15)
        await tick
        await asyncio.wait_for(poller.idle(), 5)
    assert [feeds.request_count(path) for path in ("/feed0.xml", "/feed1.xml")] == [0, 0]
    assert await _claimed(store) == 0


async def test_a_poll_that_crashes_holds_its_source_a_minute_not_ten(
    store: Store, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a poll (here the fetcher raising) must not busy-loop the source through
    claim after claim, nor hold it for the whole claim."""
    await _operator_feeds(store, feeds, 1)
    async with Fetcher(allow_private_networks=True) as fetcher:

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(fetcher, "fetch", broken)
        poller = _poller(store, fetcher, concurrency=2)
        before = utcnow()
        await poller.tick()
        await poller.idle()
        await poller.tick()  # nothing to claim: the source waits its minute
        await poller.idle()
    async with store.transaction() as session:
        [source] = await queries.all_sources(session)
    assert source.claimed_until is not None
    assert before + AFTER_A_CRASHED_POLL <= source.claimed_until <= utcnow() + timedelta(minutes=2)


async def test_a_stopped_poller_is_idle(store: Store, feeds: FeedServer) -> None:
    await _operator_feeds(store, feeds, 2, delay=5)
    async with Fetcher(allow_private_networks=True) as fetcher:
        poller = _poller(store, fetcher, concurrency=2)
        await poller.tick()
        await poller.stop()
        await asyncio.wait_for(poller.idle(), 5)


async def test_a_feed_a_chat_adds_is_polled_by_the_command_alone(
    store: Store, feeds: FeedServer
) -> None:
    """/addsource polls the new feed at once; a poll process ticking meanwhile must not."""
    feeds.set_feed("/new.xml", rss([{"title": "A", "link": "https://a.example/1"}]), delay=1)
    async with store.transaction() as session:
        await queries.touch_chat(session, -100, "group", "Desk")
    async with (
        Fetcher(allow_private_networks=True) as here,
        Fetcher(allow_private_networks=True) as elsewhere,
    ):
        index = IndexCache(store, Vocabulary(store, AliasTable.load()))
        adding = asyncio.create_task(
            actions.add_source(
                store, Ingestor(store, here, index), -100, feeds.url("/new.xml"), allow_private=True
            )
        )
        while not feeds.request_count("/new.xml"):  # the command's poll has begun
            await asyncio.sleep(0.02)
        other = _poller(store, elsewhere, concurrency=2)  # `newsbot poll`, ticking now
        await other.tick()
        await other.idle()
        assert (await adding).items == 1
    assert feeds.request_count("/new.xml") == 1
