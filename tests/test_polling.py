"""The poller: claims due sources a few at a time, polls each once, shares the work with
the other processes polling the same database, and hands back what it did not finish."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from bot.core.aliases import AliasTable
from bot.ingest import IndexCache, Ingestor
from bot.polling import Poller
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
