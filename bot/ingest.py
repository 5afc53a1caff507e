"""One poll of one source: fetch -> parse -> dedup -> match -> outbox.

This is the only module that knows the order of the stages; each stage knows nothing of
the others. The article, its story keys and its outbox rows commit in one transaction, so
a crash between two stages loses nothing and queues nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.dedup import story_keys
from bot.core.matching import TagIndex
from bot.core.tags import TagError, make_tag
from bot.sources.fetch import Fetcher, FetchResult
from bot.sources.parse import parse_feed
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Source, utcnow

log = logging.getLogger(__name__)


class IndexCache:
    """The TagIndex of every followed tag, rebuilt aside when the follows change.

    The follow set is fingerprinted from the database, not from this process's own
    commands, so a follow made through another process is seen too.
    """

    def __init__(self, store: Store, aliases: AliasTable) -> None:
        self._store = store
        self._aliases = aliases
        self._fingerprint: tuple[int, int] | None = None
        self._index = TagIndex(())
        self._lock = asyncio.Lock()

    async def current(self) -> TagIndex:
        async with self._lock:
            async with self._store.transaction() as session:
                fingerprint = await queries.follow_fingerprint(session)
                if fingerprint == self._fingerprint:
                    return self._index
                names = [name for _key, name in await queries.followed_tags(session)]
            self._index = await asyncio.to_thread(self._build, names)
            self._fingerprint = fingerprint
            return self._index

    def _build(self, names: list[str]) -> TagIndex:
        tags = []
        for name in names:
            try:
                tags.append(make_tag(name, self._aliases))
            except TagError:  # stored before a rule change made it invalid: skip, keep going
                log.warning("skipping a followed tag that no longer parses: %r", name)
        return TagIndex(tags)


@dataclass(frozen=True)
class PollReport:
    """What one poll did, for logs and for `newsbot` commands."""

    source_id: int
    url: str
    items: int = 0
    new_articles: int = 0
    queued: int = 0
    not_modified: bool = False
    error: str | None = None


class Ingestor:
    """Polls sources and fills the outbox; `wake` is set whenever alerts were queued."""

    def __init__(self, store: Store, fetcher: Fetcher, index: IndexCache) -> None:
        self._store = store
        self._fetcher = fetcher
        self._index = index
        self.wake = asyncio.Event()

    async def poll(self, source_id: int) -> PollReport:
        async with self._store.transaction() as session:
            source = await session.get(Source, source_id)
        if source is None:
            return PollReport(source_id, "", error="source no longer exists")
        result = await self._fetcher.fetch(
            source.url,
            etag=source.etag,
            last_modified=source.last_modified,
            trusted=source.operator,
        )
        if result.error:
            await self._record(source, error=result.error)
            return PollReport(source.id, source.url, error=result.error)
        if result.not_modified:
            await self._record(source)
            return PollReport(source.id, source.url, not_modified=True)
        feed = parse_feed(
            result.content, result.url, content_type=result.headers.get("content-type")
        )
        if feed.error and not feed.articles:
            await self._record(source, error=feed.error)
            return PollReport(source.id, source.url, error=feed.error)
        index = await self._index.current()
        new, queued = await self._store_articles(source, feed.articles, index, result)
        if queued:
            self.wake.set()
        log.info("polled %s: %d new, %d alerts queued", source.url, new, queued)
        return PollReport(
            source.id, source.url, items=len(feed.articles), new_articles=new, queued=queued
        )

    async def _store_articles(
        self, source: Source, articles: list[Article], index: TagIndex, result: FetchResult
    ) -> tuple[int, int]:
        now = utcnow()
        # An item with no link, guid or title cannot be recognised again: never alert it.
        keyed = [(a, keys) for a in articles if (keys := story_keys(a, source.url))]
        new = queued = 0
        async with self._store.transaction() as session:
            source = await session.get(Source, source.id)
            known = await queries.known_stories(session, (k for _a, keys in keyed for k in keys))
            for article, keys in keyed:
                story = next((known[k] for k in keys if k in known), None)
                if story is None:
                    article_id = await queries.insert_article(
                        session, source.id, article, keys, now
                    )
                    story = queries.KnownStory(article_id, source.id, now)
                    known.update(dict.fromkeys(keys, story))
                    new += 1
                elif source.operator or story.source_id == source.id:
                    # Seen before through a feed that reached the same chats: nothing to add.
                    continue
                if not source.primed:
                    continue  # the first poll only learns what is already there
                queued += await self._queue(session, source, story, article, index)
            source.etag, source.last_modified = result.etag, result.last_modified
            if result.permanent_redirect and not await queries.source_by_url(
                session, result.permanent_redirect
            ):
                source.url = result.permanent_redirect  # the feed moved for good: follow it
            source.primed = True
            source.last_polled_at = source.last_success_at = now
            source.last_error = None
        return new, queued

    async def _queue(
        self,
        session: AsyncSession,
        source: Source,
        story: queries.KnownStory,
        article: Article,
        index: TagIndex,
    ) -> int:
        matched = index.match(article)
        if not matched:
            return 0
        tags_by_chat: dict[int, list[str]] = {}
        for recipient in await queries.recipients(session, matched, source, story.first_seen_at):
            tags_by_chat.setdefault(recipient.chat_id, []).append(recipient.tag_name)
        return await queries.enqueue(session, story.article_id, tags_by_chat)

    async def _record(self, source: Source, error: str | None = None) -> None:
        async with self._store.transaction() as session:
            row = await session.get(Source, source.id)
            if row is None:
                return
            row.last_polled_at = utcnow()
            row.last_error = error
            if error is None:
                row.last_success_at = row.last_polled_at
            else:
                log.warning("polling %s failed: %s", source.url, error)
