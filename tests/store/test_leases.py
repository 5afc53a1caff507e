"""Claiming due sources, so that processes polling one database never poll a source twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.store import queries
from bot.store.db import Store
from bot.store.models import Source

NOW = datetime(2025, 4, 16, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


async def _sources(store: Store, count: int) -> list[int]:
    """`count` operator sources, due at NOW minus their number of minutes (the last is new)."""
    urls = [f"https://feed{n}.example/rss" for n in range(count)]
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, [(url, url) for url in urls])
        ids = [(await queries.source_by_url(session, url)).id for url in urls]
        for n, source_id in enumerate(ids[:-1]):
            (await session.get(Source, source_id)).next_poll_at = NOW - timedelta(minutes=n)
    return ids


async def _lease(store: Store, limit: int, now: datetime = NOW) -> list[int]:
    async with store.transaction() as session:
        leased = await queries.lease_due_sources(session, now, now + LEASE, limit)
        return sorted(s.id for s in leased)


async def test_claims_take_the_longest_waiting_first_and_never_twice(store: Store) -> None:
    ids = await _sources(store, 5)
    first = await _lease(store, 2)
    assert first == sorted([ids[4], ids[3]])  # never polled, then the one due longest
    second = await _lease(store, 2)
    assert second == sorted([ids[2], ids[1]])
    assert await _lease(store, 2) == [ids[0]]
    assert await _lease(store, 2) == []
    async with store.transaction() as session:
        leased = await session.get(Source, ids[0])
        assert leased.claimed_until == NOW + LEASE
        assert leased.next_poll_at == NOW  # claiming leaves the schedule alone


async def test_a_claim_lapses_so_a_crashed_poll_is_polled_again(store: Store) -> None:
    ids = await _sources(store, 3)
    assert len(await _lease(store, 10)) == 3
    assert await _lease(store, 10, NOW + LEASE - timedelta(seconds=1)) == []
    assert await _lease(store, 10, NOW + LEASE) == sorted(ids)


async def test_a_polls_outcome_or_a_release_ends_the_claim(store: Store) -> None:
    ids = await _sources(store, 4)
    await _lease(store, 10)
    later = NOW + timedelta(hours=2)
    async with store.transaction() as session:
        polled = await session.get(Source, ids[0])
        polled.record_poll(NOW, None)
        polled.next_poll_at = NOW
        await queries.record_successes(session, [queries.PollSuccess(ids[1], NOW, NOW)])
        await queries.release_sources(session, [ids[2]])
    assert await _lease(store, 10) == sorted(ids[:3])
    async with store.transaction() as session:
        await queries.release_sources(session)  # every claim, as the bot does at start
    assert await _lease(store, 10, later) == sorted(ids)


async def test_two_claims_at_once_take_different_sources(store: Store) -> None:
    """Two connections, as two processes would have: the second claim, made while the
    first is not yet committed, takes other sources. PostgreSQL skips the rows the first
    holds (SKIP LOCKED) and does not wait; SQLite makes the second wait for the commit."""
    ids = await _sources(store, 6)
    async with store.transaction() as session:
        first = await queries.lease_due_sources(session, NOW, NOW + LEASE, 3)
        second = asyncio.create_task(_lease(store, 3))
        if store.dialect == "postgresql":
            await asyncio.wait_for(asyncio.shield(second), timeout=10)
        else:
            await asyncio.sleep(0.2)
            assert not second.done()  # SQLite's one writer: waits for the first claim
    together = [s.id for s in first] + await second
    assert sorted(together) == sorted(ids)
