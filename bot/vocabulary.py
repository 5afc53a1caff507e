"""The names a tag matches: the shipped alias table, aliases learned from articles, and each
chat's own (/alias).

Learned and chat aliases live in the database, so every process sees the same vocabulary;
this module caches it per process and notices changes by a cheap fingerprint query.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.definitions import Definition, DefinitionTally, find_definitions
from bot.core.text import normalize
from bot.store import queries
from bot.store.db import Store

MAX_NAME_LENGTH = 200  # the store's column width for alias names
MIN_ARTICLES, MIN_SOURCES = 3, 2  # how often a definition must recur before it is used


def chat_tag_key(chat_id: int, tag_key: str) -> str:
    """An index key that matches for one chat only; plain tag keys never start with "@"."""
    return f"@{chat_id}@{tag_key}"


def parse_chat_tag_key(key: str) -> tuple[int, str] | None:
    """(chat id, tag key) of a key made by `chat_tag_key`; None for a plain tag key."""
    if not key.startswith("@"):
        return None
    chat, _, tag_key = key[1:].partition("@")
    return int(chat), tag_key


@dataclass(frozen=True)
class Snapshot:
    """The vocabulary at one moment: the shared table and every chat's own aliases."""

    table: AliasTable
    chat_aliases: dict[int, dict[str, list[str]]]  # chat -> tag key -> alias names

    def for_chat(self, chat_id: int) -> dict[str, list[str]]:
        return self.chat_aliases.get(chat_id, {})


class Vocabulary:
    """Hands out the current `Snapshot`, rebuilt only when an alias was added or learned."""

    def __init__(self, store: Store, shipped: AliasTable) -> None:
        self._store = store
        self._shipped = shipped
        self._fingerprint: tuple[int, ...] | None = None
        self._snapshot = Snapshot(shipped, {})
        self._lock = asyncio.Lock()

    async def snapshot(self) -> Snapshot:
        async with self._lock, self._store.transaction() as session:
            fingerprint = await queries.alias_fingerprint(session)
            if fingerprint != self._fingerprint:
                learned = await queries.learned_aliases(session)
                by_chat: dict[int, dict[str, list[str]]] = {}
                for row in await queries.chat_aliases(session):
                    by_chat.setdefault(row.chat_id, {}).setdefault(row.tag_key, []).append(
                        row.alias
                    )
                table = AliasTable.from_groups(
                    [*self._shipped.groups, *((row.short, row.long) for row in learned)]
                )
                self._snapshot, self._fingerprint = Snapshot(table, by_chat), fingerprint
            return self._snapshot

    async def table(self) -> AliasTable:
        return (await self.snapshot()).table


Pairs = frozenset[tuple[str, str, str, str]]  # (short key, long key, short, long) each


def definitions_in(article: Article) -> Pairs:
    """The acronym definitions an article spells out, as `learn_from` records them.

    Pure, so a poll finds them before it joins a write: the write stays short."""
    text = "\n".join((article.title, article.summary, article.content))
    return frozenset(
        (normalize(d.short), normalize(d.long), d.short, d.long)
        for d in find_definitions(text)
        if max(len(d.short), len(d.long)) <= MAX_NAME_LENGTH
    )


async def learn_from(session: AsyncSession, article_id: int, source_url: str, pairs: Pairs) -> int:
    """Record the definitions an article spelled out (`definitions_in`); promote those
    that recur.

    Returns how many new aliases were learned. A definition becomes an alias only once
    `MIN_ARTICLES` articles from `MIN_SOURCES` hosts agree (see `DefinitionTally`).
    """
    if not pairs:
        return 0
    await queries.record_definitions(
        session, article_id, urlsplit(source_url).hostname or "", pairs
    )
    tally = DefinitionTally()
    keys = {(short_key, long_key) for short_key, long_key, _s, _l in pairs}
    for row in await queries.definition_sightings(session, keys):
        tally.add(
            Definition(row.short, row.long), article=str(row.article_id), source=row.source_host
        )
    trusted = tally.trusted(MIN_ARTICLES, MIN_SOURCES)
    return await queries.learn_aliases(
        session, [(normalize(d.short), normalize(d.long), d.short, d.long) for d in trusted]
    )
