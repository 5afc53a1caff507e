"""The database handle: engine, sessions and migrations, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config that needs no alembic.ini: the script folder ships in the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    """WAL lets the poller write while the sender reads; foreign keys make cascades real;
    every commit waits for the disk unless its transaction says otherwise (`_commit_waits`)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
    record.info[_SYNCHRONOUS] = "FULL"


_SYNCHRONOUS = "newsbot.synchronous"  # a SQLite connection's mode, in its pool record's info


async def _commit_waits(session: AsyncSession, durable: bool) -> None:
    """Make this transaction's commit wait for the disk, or not (see `Store.transaction`).

    SQLite sets it per connection (`PRAGMA synchronous`, outside a transaction, which the
    driver opens only at the first write), so a connection's mode is remembered and changed
    only when it differs. PostgreSQL sets it for the transaction alone (`SET LOCAL`)."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        mode = "FULL" if durable else "NORMAL"
        if connection.info.get(_SYNCHRONOUS) != mode:
            await connection.exec_driver_sql(f"PRAGMA synchronous={mode}")
            connection.info[_SYNCHRONOUS] = mode
    elif not durable:
        await connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def _asyncpg_options(options: dict[str, Any]) -> dict[str, Any]:
    """Plan every statement for its values (`plan_cache_mode`). asyncpg prepares each
    statement once per connection, and the generic plan PostgreSQL then caches for a
    lookup, made while a table was small (a new deployment's first polls), kept scanning
    the whole table as it grew, until autovacuum analyzed it: the first round of
    `bench/poll.py` on PostgreSQL ran at 8.6 feeds/s with it, 22.8 without."""
    connect_args = dict(options.get("connect_args", {}))
    server_settings = {"plan_cache_mode": "force_custom_plan"}
    connect_args["server_settings"] = server_settings | connect_args.get("server_settings", {})
    return options | {"connect_args": connect_args}


def _json_text(value: Any) -> str:
    """A JSON column's value as text (see orjson in pyproject.toml). orjson refuses what is
    not valid UTF-8, such as a lone surrogate a feed's JSON may hold ("\\ud800"): the
    stdlib writes that as an escape, as it always has, rather than fail the feed."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _json_value(text: str | bytes) -> Any:
    """A JSON column's text as a value: orjson, and the stdlib for what orjson refuses to
    read, such as the lone surrogates `_json_text` (and releases before orjson) wrote."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class Store:
    """Owns the engine; every unit of work is one `transaction()`."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        if make_url(url).get_driver_name() == "asyncpg":
            engine_options = _asyncpg_options(engine_options)
        json_codec = {"json_serializer": _json_text, "json_deserializer": _json_value}
        engine_options = json_codec | engine_options
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together, or not at all.

        A commit waits until the disk has it, unless the transaction is not `durable`: for
        work that is redone if lost, such as a poll's stories, alerts and the feed state
        that says they were stored (SQLite's synchronous=NORMAL, PostgreSQL's
        synchronous_commit=off). A crash of the machine, not of the process, may undo such
        a commit and the ones after it, never one before: the log is written in order and a
        durable commit flushes all of it. So an alert marked sent is never undone: what a
        crash can take back had not been marked sent, and is polled and queued again.
        """
        async with self._sessions() as session, session.begin():
            await _commit_waits(session, durable)
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (run at start and by `newsbot db upgrade`)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade, self.url)

    async def close(self) -> None:
        await self.engine.dispose()


def _upgrade(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)
