"""The database handle: engine, sessions and migrations, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the poller write while the sender reads; foreign keys make cascades real."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


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


class Store:
    """Owns the engine; every unit of work is one `transaction()`."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        if make_url(url).get_driver_name() == "asyncpg":
            engine_options = _asyncpg_options(engine_options)
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together, or not at all."""
        async with self._sessions() as session, session.begin():
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
