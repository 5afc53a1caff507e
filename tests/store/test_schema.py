"""The schema: migrations match the models, and SQLite runs in WAL mode."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from bot.store.db import Store, alembic_config
from bot.store.models import Base


def _differences(connection: Connection) -> list:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


async def test_migrations_build_exactly_the_models(store: Store) -> None:
    async with store.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_migrating_twice_is_harmless(store: Store) -> None:
    await store.migrate()
    async with store.engine.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert version


async def test_postgresql_plans_each_statement_for_its_values(store: Store) -> None:
    """A cached generic plan made while the tables were small would keep scanning them."""
    if store.dialect != "postgresql":
        pytest.skip("a PostgreSQL setting")
    async with store.engine.connect() as connection:
        assert await connection.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        assert await connection.scalar(text("SHOW search_path")) != "public"  # kept as given


async def _commit_mode(store: Store, durable: bool) -> str:
    """How the disk is waited for at this transaction's commit, in the database's words."""
    setting = "PRAGMA synchronous" if store.dialect == "sqlite" else "SHOW synchronous_commit"
    async with store.transaction(durable=durable) as session:
        return str(await session.scalar(text(setting)))


async def test_only_redoable_work_commits_without_waiting_for_the_disk(store: Store) -> None:
    """A poll's writes may be lost to a machine crash and redone; nothing else may. On
    SQLite the mode belongs to the connection, so it must follow each transaction back."""
    sqlite = store.dialect == "sqlite"
    full, normal = ("2", "1") if sqlite else ("on", "off")
    store.engine.pool.dispose()  # one connection, reused by all that follows
    for durable in (True, False, False, True, False, True):
        assert await _commit_mode(store, durable) == (full if durable else normal)
    if not sqlite:  # SET LOCAL: the setting ends with its transaction
        async with store.engine.connect() as connection:
            assert await connection.scalar(text("SHOW synchronous_commit")) == "on"


async def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        await store.migrate()
        async with store.engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await store.close()


async def test_adding_chat_targets_keeps_every_chats_follows_on_sqlite(tmp_path) -> None:
    """0007 alters `chats` in place: rebuilding it on SQLite would cascade into follows."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    store = Store(url)

    def migrate_to(connection: Connection, revision: str, down: bool = False) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    try:
        async with store.engine.begin() as connection:
            await connection.run_sync(migrate_to, "0006")
        async with store.engine.begin() as connection:  # the models are newer than 0006
            await connection.execute(
                text(
                    "INSERT INTO chats (id, type, active, created_at) "
                    "VALUES (-100, 'supergroup', 1, '2026-01-01 00:00:00')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO follows (chat_id, tag_key, tag_name, created_at) "
                    "VALUES (-100, 'kida', 'KIDA', '2026-01-01 00:00:00')"
                )
            )
        await store.migrate()
        async with store.engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM follows")) == 1
            assert await connection.scalar(text("SELECT target_id FROM chats")) is None
        async with store.engine.begin() as connection:
            await connection.run_sync(migrate_to, "0006", True)
        async with store.engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM follows")) == 1
    finally:
        await store.close()
