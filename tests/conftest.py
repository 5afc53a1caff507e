"""Shared fixtures: a migrated store on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.aliases import AliasTable
from bot.ingest import IndexCache, Ingestor
from bot.sources.fetch import Fetcher
from bot.store.db import Store
from bot.vocabulary import Vocabulary
from tests.fakes.feed_server import FeedServer

# News search is on by default and points at the internet; tests (and the bots they start
# as subprocesses, which inherit this environment) must never reach it.
os.environ["SEARCH_FEEDS"] = ""

PG_URL = os.environ.get("NEWSBOT_TEST_DATABASE_URL")
PG_SKIP_REASON = (
    "NEWSBOT_TEST_DATABASE_URL is not set; set it to a PostgreSQL URL such as "
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test to run the store tests on PostgreSQL"
)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """Feeds served from 127.0.0.1."""
    with FeedServer() as server:
        yield server


@pytest.fixture
async def ingestor(store: Store) -> AsyncIterator[Ingestor]:
    """The real ingest over `store`; chat sources may live on 127.0.0.1 like the feeds."""
    async with Fetcher(allow_private_networks=True) as fetcher:
        yield Ingestor(store, fetcher, IndexCache(store, Vocabulary(store, AliasTable.load())))


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason=PG_SKIP_REASON)),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Store]:
    """A freshly migrated store; on PostgreSQL each test gets a schema of its own."""
    if request.param == "sqlite":
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await store.migrate()
        yield store
        await store.close()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
