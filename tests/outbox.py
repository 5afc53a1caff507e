"""Test helpers for the outbox: the stand-in for time passing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.store.db import Store
from bot.store.models import Chat, Delivery


async def make_due(store: Store) -> None:
    """Skip every wait the outbox holds: retries, held alerts, edits, a chat's 429 hold."""
    async with store.transaction() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(Delivery).values(next_attempt_at=past))
        await session.execute(update(Chat).values(hold_until=None))
