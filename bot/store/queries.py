"""Every read and write the bot makes, as small functions over one session.

Callers own the transaction (`Store.transaction()`), so a sequence of these commits
together: ingest stores an article, its keys and its outbox rows in one go.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import String, bindparam, delete, false, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.article import Article as ArticleValue
from bot.core.dedup import outlet_name
from bot.core.schedule import Plan
from bot.core.tags import Tag
from bot.core.text import normalize
from bot.store.models import (
    TITLE_LENGTH,
    Article,
    Chat,
    ChatAlias,
    ChatSource,
    Coverage,
    DefinitionSighting,
    Delivery,
    Follow,
    LearnedAlias,
    Source,
    StoryKey,
    utcnow,
)


def _insert(session: AsyncSession, model: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(model)


async def _insert_ignoring_conflicts(
    session: AsyncSession, model: type, rows: Sequence[dict[str, object]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows went in."""
    if not rows:
        return 0
    statement = _insert(session, model).on_conflict_do_nothing()
    primary_key = list(model.__table__.primary_key.columns)
    inserted = await session.execute(statement.returning(*primary_key), list(rows))
    return len(inserted.all())


# --- chats and follows -------------------------------------------------------------------


async def touch_chat(
    session: AsyncSession, chat_id: int, chat_type: str, title: str | None
) -> None:
    """Record a chat we heard from; hearing from it also makes it active again."""
    title = title[:TITLE_LENGTH] if title else None
    chat = await session.get(Chat, chat_id)
    if chat is None:
        session.add(Chat(id=chat_id, type=chat_type, title=title, active=True))
        await session.flush()
    else:
        chat.type, chat.title, chat.active = chat_type, title, True


async def follow(
    session: AsyncSession, chat_id: int, tags: Iterable[Tag], thread_id: int | None = None
) -> list[Tag]:
    """Add tags to a chat (alerted into forum topic `thread_id` if given); returns the new."""
    tags = list(tags)
    if not tags:
        return []
    now = utcnow()
    rows = [
        {
            "chat_id": chat_id,
            "tag_key": t.key,
            "tag_name": t.name,
            "created_at": now,
            "thread_id": thread_id,
        }
        for t in tags
    ]
    added = set(
        await session.scalars(
            _insert(session, Follow).on_conflict_do_nothing().returning(Follow.tag_key), rows
        )
    )
    return [t for t in tags if t.key in added]


async def unfollow(session: AsyncSession, chat_id: int, keys: Iterable[str]) -> set[str]:
    """Remove tags from a chat; returns the keys it really followed."""
    keys = set(keys)
    removed = set(
        await session.scalars(
            delete(Follow)
            .where(Follow.chat_id == chat_id, Follow.tag_key.in_(keys))
            .returning(Follow.tag_key)
        )
    )
    return removed


async def chat_follows(session: AsyncSession, chat_id: int) -> list[Follow]:
    return list(
        await session.scalars(select(Follow).where(Follow.chat_id == chat_id).order_by(Follow.id))
    )


async def unfollow_by_id(session: AsyncSession, chat_id: int, follow_id: int) -> str | None:
    """Remove a follow only if it belongs to this chat; returns its tag name."""
    names = await session.scalars(
        delete(Follow)
        .where(Follow.id == follow_id, Follow.chat_id == chat_id)
        .returning(Follow.tag_name)
    )
    return names.first()


async def follow_fingerprint(session: AsyncSession) -> tuple[int, ...]:
    """(count, max id) of all follows: changes whenever a follow is added or removed."""
    return await _fingerprint(session, Follow)


async def followed_tags(session: AsyncSession) -> list[tuple[str, str]]:
    """Each distinct followed tag key with one of the names it was typed as."""
    rows = await session.execute(
        select(Follow.tag_key, func.min(Follow.tag_name)).group_by(Follow.tag_key)
    )
    return [(key, name) for key, name in rows]


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    tag_key: str
    tag_name: str
    thread_id: int | None
    followed_at: datetime


async def recipients(
    session: AsyncSession, tag_keys: Iterable[str], source: Source
) -> list[Recipient]:
    """The follows of these tags in the chats a source speaks to, oldest first.

    An operator's source speaks to every chat; a chat's own source only to the chats that
    added it. Which stories each may be alerted is the caller's call (`followed_at`).
    """
    found: list[Recipient] = []
    for batch in _batches(set(tag_keys)):
        query = select(
            Follow.chat_id, Follow.tag_key, Follow.tag_name, Follow.thread_id, Follow.created_at
        ).where(Follow.tag_key.in_(batch))
        if not source.operator:
            query = query.where(
                Follow.chat_id.in_(
                    select(ChatSource.chat_id).where(ChatSource.source_id == source.id)
                )
            )
        found += [Recipient(*row) for row in await session.execute(query.order_by(Follow.id))]
    return found


# --- targets: a private chat managing another chat (/target) -----------------------------


async def set_target(session: AsyncSession, chat_id: int, target_id: int | None) -> None:
    """Make `chat_id`'s commands act on `target_id` (a chat already recorded), or on itself."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(target_id=target_id))


async def target_of(session: AsyncSession, chat_id: int) -> Chat | None:
    """The chat `chat_id` manages with /target, if any."""
    chat = await session.get(Chat, chat_id)
    if chat is None or chat.target_id is None:
        return None
    return await session.get(Chat, chat.target_id)


# --- sources ----------------------------------------------------------------------------


async def sync_operator_sources(session: AsyncSession, feeds: Iterable[tuple[str, str]]) -> None:
    """Make the OPML file's list (url, title) the set of sources it provides, keeping state.

    Sources added with `newsbot sources add` or from chats are left alone.
    """
    feeds = {url: title[:TITLE_LENGTH] for url, title in feeds}
    await session.execute(
        update(Source)
        .where(Source.added_by == "opml", Source.operator, Source.url.not_in(list(feeds)))
        .values(operator=False)
    )
    known = {
        s.url: s for s in await session.scalars(select(Source).where(Source.url.in_(list(feeds))))
    }
    for url, title in feeds.items():
        if url in known:
            known[url].operator = True
        else:
            session.add(Source(url=url, title=title, operator=True, added_by="opml"))
    await session.flush()


async def add_operator_source(session: AsyncSession, url: str, title: str, added_by: str) -> bool:
    """A source for every chat, from the CLI; False if it already was one."""
    source = await source_by_url(session, url)
    if source is None:
        session.add(Source(url=url, title=title[:TITLE_LENGTH], operator=True, added_by=added_by))
        await session.flush()
        return True
    was = source.operator
    source.operator, source.added_by = True, added_by
    return not was


async def remove_operator_source(session: AsyncSession, url: str) -> bool:
    """Stop polling a source for everyone (chats that added it keep it); False if unknown."""
    source = await source_by_url(session, url)
    if source is None or not source.operator:
        return False
    source.operator = False
    return True


async def ensure_search_source(session: AsyncSession, tag_key: str, url: str, title: str) -> None:
    """The news search feed of a tag, created once and shared by every chat following it."""
    if await source_by_url(session, url) is None:
        session.add(
            Source(
                url=url,
                title=title[:TITLE_LENGTH],
                operator=True,
                added_by="search",
                search_tag_key=tag_key,
            )
        )
        await session.flush()


async def chats_of_source(session: AsyncSession, source_id: int) -> list[int]:
    """The chats that added a source themselves (operator sources have none)."""
    return list(
        await session.scalars(select(ChatSource.chat_id).where(ChatSource.source_id == source_id))
    )


async def notice_recipients(session: AsyncSession, chat_id: int) -> list[tuple[int, str | None]]:
    """Where a notice about `chat_id`'s own feeds goes: the chat itself, or for a channel
    (whose posts every subscriber reads) the private chats that manage it with /target,
    each with the channel's title."""
    chat = await session.get(Chat, chat_id)
    if chat is None or chat.type != "channel":
        return [(chat_id, None)]
    managers = await session.scalars(select(Chat.id).where(Chat.target_id == chat_id))
    return [(manager, chat.title or str(chat_id)) for manager in managers]


async def mark_failure_reported(session: AsyncSession, source_id: int) -> None:
    await session.execute(
        update(Source).where(Source.id == source_id).values(failure_reported=True)
    )


async def all_sources(session: AsyncSession) -> list[Source]:
    return list(await session.scalars(select(Source).order_by(Source.id)))


async def add_chat_source(session: AsyncSession, chat_id: int, url: str, title: str) -> bool:
    """Link a source to a chat (creating the source); False when the chat already had it."""
    source = await source_by_url(session, url)
    if source is None:
        source = Source(url=url, title=title[:TITLE_LENGTH], operator=False, added_by="chat")
        session.add(source)
        await session.flush()
    return bool(
        await _insert_ignoring_conflicts(
            session,
            ChatSource,
            [{"chat_id": chat_id, "source_id": source.id, "created_at": utcnow()}],
        )
    )


async def sources_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Source]:
    """These sources' rows (those that still exist), by id, in one query per 500."""
    found: dict[int, Source] = {}
    for batch in _batches(set(ids)):
        found.update(
            (s.id, s) for s in await session.scalars(select(Source).where(Source.id.in_(batch)))
        )
    return found


async def source_by_url(session: AsyncSession, url: str) -> Source | None:
    return await session.scalar(select(Source).where(Source.url == url))


async def chat_sources(session: AsyncSession, chat_id: int) -> list[Source]:
    return list(
        await session.scalars(
            select(Source)
            .join(ChatSource, ChatSource.source_id == Source.id)
            .where(ChatSource.chat_id == chat_id)
            .order_by(Source.id)
        )
    )


# --- stories ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownStory:
    """A stored story; `reached_everyone` if it was first seen on an operator's feed by a
    poll that alerted (not that feed's first, silent one)."""

    article_id: int
    source_id: int | None
    reached_everyone: bool
    first_seen_at: datetime
    outlet: str = ""  # who published it (see dedup.outlet_name)


T = TypeVar("T")


def _batches(items: Iterable[T], size: int = 500) -> Iterator[list[T]]:
    """`items` in lists small enough for an IN (...) under every database's parameter limit."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def known_stories(session: AsyncSession, keys: Iterable[str]) -> dict[str, KnownStory]:
    """Which of these story keys are already stored, and as which story.

    Two plain reads, keys first: most keys of a poll are new, so the second read is small
    or skipped. One read with the join let PostgreSQL pick plans that scanned every
    stored key (seen taking 0.3 s a poll once the table held 60,000 keys).
    """
    article_of: dict[str, int] = {}
    for batch in _batches(set(keys)):
        rows = await session.execute(
            select(StoryKey.key, StoryKey.article_id).where(StoryKey.key.in_(batch))
        )
        article_of.update((key, article_id) for key, article_id in rows)
    stories: dict[int, KnownStory] = {}
    for batch in _batches(set(article_of.values())):
        rows = await session.execute(
            select(
                Article.id,
                Article.source_id,
                Source.operator,
                Article.first_seen_at,
                Source.title,
                Source.added_by,
                Article.title,
                Article.announced,
            )
            .outerjoin(Source, Source.id == Article.source_id)
            .where(Article.id.in_(batch))
        )
        for article_id, source_id, operator, seen, source_title, added_by, title, said in rows:
            outlet = outlet_name(source_title or "", title, from_search=added_by == "search")
            stories[article_id] = KnownStory(
                article_id, source_id, bool(operator and said), seen, outlet
            )
    return {key: stories[article_id] for key, article_id in article_of.items()}


@dataclass(frozen=True)
class NewStory:
    """A story to store, seen first on `source_id`; `announced` is False for a source's
    first, silent poll (see `Article.announced`)."""

    source_id: int
    article: ArticleValue
    keys: Sequence[str]
    announced: bool = True


async def insert_articles(
    session: AsyncSession, stories: Sequence[NewStory], now: datetime
) -> list[int]:
    """Store new stories, each under all its keys, in two statements; returns their ids."""
    if not stories:
        return []
    rows = [
        {
            "source_id": story.source_id,
            "guid": story.article.guid,
            "link": story.article.link,
            "title": story.article.title,
            "summary": story.article.summary,
            "content": story.article.content,
            "categories": list(story.article.categories),
            "published_at": story.article.published,
            "first_seen_at": now,
            "announced": story.announced,
        }
        for story in stories
    ]
    # Core statements on the tables, not ORM inserts: the ORM's bulk path costs about as
    # much per row again, for objects nobody reads.
    articles = Article.__table__
    statement = insert(articles).returning(articles.c.id, sort_by_parameter_order=True)
    ids = list(await session.scalars(statement, rows))
    keys = [
        {"key": key, "article_id": article_id}
        for article_id, story in zip(ids, stories, strict=True)
        for key in story.keys
    ]
    await session.execute(insert(StoryKey.__table__), keys)
    return ids


async def insert_article(
    session: AsyncSession, source_id: int, article: ArticleValue, keys: Sequence[str], now: datetime
) -> int:
    """Store one new story under all its keys; returns its id."""
    [article_id] = await insert_articles(session, [NewStory(source_id, article, keys)], now)
    return article_id


async def recent_articles_for_chat(
    session: AsyncSession, chat_id: int, limit: int
) -> list[Article]:
    """Newest stories from the feeds this chat hears: the operator's and its own."""
    own = select(ChatSource.source_id).where(ChatSource.chat_id == chat_id)
    heard = select(Source.id).where(or_(Source.operator, Source.id.in_(own)))
    return list(
        await session.scalars(
            select(Article)
            .where(Article.source_id.in_(heard))
            .order_by(Article.first_seen_at.desc(), Article.id.desc())
            .limit(limit)
        )
    )


# --- the outbox -------------------------------------------------------------------------


@dataclass
class Queued:
    """One chat's alert for a story: the tags that matched (name -> the term that did)
    and the topic to post in."""

    matched: dict[str, str]
    thread_id: int | None = None


async def enqueue(session: AsyncSession, article_id: int, by_chat: dict[int, Queued]) -> int:
    """Queue one alert per chat; a (chat, article) pair already queued is left alone."""
    return len(await enqueue_many(session, [(article_id, by_chat)]))


async def enqueue_many(
    session: AsyncSession, alerts: Iterable[tuple[int, dict[int, Queued]]]
) -> list[tuple[int, int]]:
    """`enqueue` for several stories in one statement; returns the (article id, chat id)
    of each alert that was new."""
    now = utcnow()
    rows = [
        {
            "chat_id": chat_id,
            "article_id": article_id,
            "tags": list(queued.matched),
            "matched": queued.matched,
            "thread_id": queued.thread_id,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for article_id, by_chat in alerts
        for chat_id, queued in by_chat.items()
    ]
    if not rows:
        return []
    outbox = Delivery.__table__  # a Core insert, as in `insert_articles`
    statement = _insert(session, outbox).on_conflict_do_nothing()
    inserted = await session.execute(
        statement.returning(outbox.c.article_id, outbox.c.chat_id), rows
    )
    return [(article_id, chat_id) for article_id, chat_id in inserted]


@dataclass(frozen=True)
class Due:
    delivery_id: int
    chat_id: int
    chat_type: str
    plan: Plan
    thread_id: int | None
    matched: dict[str, str]  # tag name -> matched term
    attempts: int
    queued_at: datetime
    article: Article
    source_title: str
    follow_ids: dict[str, int]  # tag name -> the chat's follow row, for "Unfollow" buttons
    also: tuple[str, ...] = ()  # other outlets that carried the story, first seen first
    message_id: int | None = None  # the alert's message, once sent

    @property
    def is_group(self) -> bool:
        return self.chat_type in ("group", "supergroup")

    @property
    def tags(self) -> list[str]:
        return list(self.matched)


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    """Unsent alerts whose time has come, for active chats, oldest first."""
    return await _due(session, Delivery.sent_at.is_(None), now, limit)


async def due_revisions(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    """Sent alerts to edit (more outlets carried the story), for active chats."""
    return await _due(session, Delivery.revise & Delivery.sent_at.is_not(None), now, limit)


async def _due(session: AsyncSession, which: Any, now: datetime, limit: int) -> list[Due]:
    """Outbox rows of `which` kind due by `now`, with what formatting their alert needs."""
    rows = (
        await session.execute(
            select(Delivery, Chat, Article, Source.title, Source.added_by)
            .join(Article, Article.id == Delivery.article_id)
            .join(Chat, Chat.id == Delivery.chat_id)
            .outerjoin(Source, Source.id == Article.source_id)
            .where(
                which,
                Delivery.next_attempt_at <= now,
                Chat.active,
                or_(Chat.hold_until.is_(None), Chat.hold_until <= now),
            )
            .order_by(Delivery.id)
            .limit(limit)
        )
    ).all()
    follows: dict[tuple[int, str], int] = {}
    for batch in _batches({d.chat_id for d, *_ in rows}):
        found = await session.execute(
            select(Follow.chat_id, Follow.tag_name, Follow.id).where(Follow.chat_id.in_(batch))
        )
        follows.update(((chat_id, name), follow_id) for chat_id, name, follow_id in found)
    also = await coverage_of(session, {d.article_id for d, *_ in rows})
    due = []
    for d, chat, a, title, added_by in rows:
        matched = dict(d.matched) if d.matched else dict.fromkeys(d.tags, "")
        ids = {name: follows[d.chat_id, name] for name in matched if (d.chat_id, name) in follows}
        outlet = outlet_name(title or "", a.title, from_search=added_by == "search")
        due.append(
            Due(
                d.id,
                d.chat_id,
                chat.type,
                chat.plan(),
                d.thread_id,
                matched,
                d.attempts,
                d.created_at,
                a,
                outlet,
                ids,
                tuple(also.get(d.article_id, ())),
                d.message_id,
            )
        )
    return due


# --- coverage: "also reported by" ----------------------------------------------------------


async def add_coverage(
    session: AsyncSession, article_id: int, publisher: str, link: str, now: datetime
) -> bool:
    """Note that another outlet carried a story; False when it was already noted."""
    publisher = publisher[:TITLE_LENGTH]
    row = {
        "article_id": article_id,
        "publisher_key": normalize(publisher)[:TITLE_LENGTH],
        "publisher": publisher,
        "link": link,
        "seen_at": now,
    }
    return await _insert_ignoring_conflicts(session, Coverage, [row]) == 1


async def coverage_of(session: AsyncSession, article_ids: Iterable[int]) -> dict[int, list[str]]:
    """article id -> the outlets that also carried it, in the order they were seen."""
    found: dict[int, list[str]] = {}
    for batch in _batches(article_ids):
        rows = await session.execute(
            select(Coverage.article_id, Coverage.publisher)
            .where(Coverage.article_id.in_(batch))
            .order_by(Coverage.id)
        )
        for article_id, publisher in rows:
            found.setdefault(article_id, []).append(publisher)
    return found


async def revise_alerts(
    session: AsyncSession, article_id: int, sent_since: datetime, at: datetime
) -> None:
    """Have the story's alerts sent since `sent_since` edited at `at` to show new coverage."""
    await session.execute(
        update(Delivery)
        .where(
            Delivery.article_id == article_id,
            Delivery.sent_at >= sent_since,
            Delivery.message_id.is_not(None),
        )
        .values(revise=True, next_attempt_at=at)
    )


async def revised(session: AsyncSession, delivery_id: int) -> None:
    """The alert's edit is done, or can never be done: stop trying."""
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(revise=False))


async def hold(session: AsyncSession, delivery_ids: Sequence[int], until: datetime) -> None:
    """Keep these alerts until the chat wants them (quiet hours, mute, digest time)."""
    await session.execute(
        update(Delivery).where(Delivery.id.in_(list(delivery_ids))).values(next_attempt_at=until)
    )


async def chat_settings(session: AsyncSession, chat_id: int) -> Chat | None:
    return await session.get(Chat, chat_id)


async def update_chat_settings(session: AsyncSession, chat_id: int, **values: object) -> None:
    """Change delivery settings (timezone, quiet_start/end, digest, digest_at, muted_until)."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(**values))
    # Alerts held under the old settings are re-planned at the next round; those waiting
    # out a failure keep their backoff (and a 429 holds the whole chat anyway).
    await session.execute(
        update(Delivery)
        .where(Delivery.chat_id == chat_id, Delivery.sent_at.is_(None), Delivery.attempts == 0)
        .values(next_attempt_at=utcnow())
    )


async def mark_sent(
    session: AsyncSession, delivery_ids: Sequence[int], message_id: int | None = None
) -> None:
    """Telegram took these alerts; `message_id` (a single alert's) lets it be edited later."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)))
        .values(sent_at=utcnow(), last_error=None, message_id=message_id)
    )


async def postpone(
    session: AsyncSession, delivery_ids: Sequence[int], until: datetime, error: str
) -> None:
    """Try these alerts again later; none is ever dropped."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)))
        .values(next_attempt_at=until, attempts=Delivery.attempts + 1, last_error=error[:1000])
    )


async def postpone_chat(session: AsyncSession, chat_id: int, until: datetime, error: str) -> None:
    """Telegram asked us to wait for this chat: nothing goes to it before `until`, neither its
    pending alerts nor ones queued meanwhile nor edits. The hold is the chat's alone
    (`Chat.hold_until`, checked by `_due`); its pending alerts only note why they wait."""
    await session.execute(
        update(Chat)
        .where(Chat.id == chat_id, or_(Chat.hold_until.is_(None), Chat.hold_until < until))
        .values(hold_until=until)
    )
    await session.execute(
        update(Delivery)
        .where(Delivery.chat_id == chat_id, Delivery.sent_at.is_(None))
        .values(last_error=error[:1000])
    )


async def deactivate_chat(session: AsyncSession, chat_id: int) -> None:
    """Stop sending to a chat that blocked or removed the bot; its tags and alerts wait."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(active=False))


CHAT_SETTINGS = ("timezone", "quiet_start", "quiet_end", "digest", "digest_at", "muted_until")


async def migrate_chat(session: AsyncSession, old_id: int, new_id: int) -> None:
    """A group became a supergroup: its follows, sources, pending alerts and the private
    chats managing it (/target) move along."""
    await session.execute(update(Chat).where(Chat.target_id == old_id).values(target_id=new_id))
    if await session.get(Chat, new_id) is None:
        await session.execute(
            update(Chat).where(Chat.id == old_id).values(id=new_id, type="supergroup")
        )
        return
    # Both ids are known (the supergroup spoke first): it takes the group's delivery
    # settings and what it lacks of its tags, sources and alerts; the old chat goes.
    old = await session.get(Chat, old_id)
    if old is not None:
        await session.execute(
            update(Chat)
            .where(Chat.id == new_id)
            .values({column: getattr(old, column) for column in CHAT_SETTINGS})
        )
    for model, key in (
        (Follow, Follow.tag_key),
        (ChatAlias, ChatAlias.alias_key),
        (ChatSource, ChatSource.source_id),
        (Delivery, Delivery.article_id),
    ):
        taken = select(key).where(model.chat_id == new_id)
        await session.execute(
            update(model).where(model.chat_id == old_id, key.not_in(taken)).values(chat_id=new_id)
        )
    await session.execute(delete(Chat).where(Chat.id == old_id))


async def remove_chat_source(session: AsyncSession, chat_id: int, source_id: int) -> None:
    await session.execute(
        delete(ChatSource).where(ChatSource.chat_id == chat_id, ChatSource.source_id == source_id)
    )


# A claim lapses after this if its poll never ended (its process died): well beyond a
# poll's longest run, the fetch timeout plus parsing and writing, and a wait for a slot.
CLAIM_LASTS = timedelta(minutes=10)


async def lease_due_sources(
    session: AsyncSession, now: datetime, until: datetime, limit: int, *, search: bool = True
) -> list[Source]:
    """Claim up to `limit` needed sources whose next poll time has come, longest-waiting
    first, until `until`: no other process claims them meanwhile. The poll's outcome ends
    the claim (`Source.record_poll`, `record_successes`); if the poll never ends (its
    process died), the claim lapses.

    Needed: the operator's, those a chat added, and (unless `search` is off) the search
    feeds of followed tags. One statement claims: PostgreSQL skips the rows another
    process is claiming (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time.
    """
    linked = select(ChatSource.source_id)
    followed = select(Follow.tag_key)
    searched = Source.search_tag_key.in_(followed) if search else false()
    needed = or_(
        Source.operator & (Source.search_tag_key.is_(None) | searched),
        Source.id.in_(linked),
    )
    due = (
        select(Source.id)
        .where(
            needed,
            or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now),
            or_(Source.claimed_until.is_(None), Source.claimed_until <= now),
        )
        .order_by(Source.next_poll_at.asc().nulls_first(), Source.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.scalars(
        update(Source).where(Source.id.in_(due)).values(claimed_until=until).returning(Source),
        execution_options={"synchronize_session": False},
    )
    return sorted(claimed, key=lambda s: (s.next_poll_at is not None, s.next_poll_at or now, s.id))


async def claim_source(session: AsyncSession, source_id: int, now: datetime) -> bool:
    """Claim one source (for a poll a chat asked for), unless another process holds it."""
    claimed = await session.execute(
        update(Source)
        .where(
            Source.id == source_id,
            or_(Source.claimed_until.is_(None), Source.claimed_until <= now),
        )
        .values(claimed_until=now + CLAIM_LASTS)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


async def release_sources(
    session: AsyncSession, ids: Iterable[int] | None = None, until: datetime | None = None
) -> None:
    """End the claims on these sources (on every source if None): their polls were stopped
    before they ended, or (at the bot's start) the processes that claimed them are gone.
    With `until`, hold them until then instead."""
    where = Source.claimed_until.is_not(None)
    if ids is not None:
        where = where & Source.id.in_(list(ids))
    await session.execute(update(Source).where(where).values(claimed_until=until))


@dataclass(frozen=True)
class PollSuccess:
    """A poll that went well, to be written with others (`record_successes`)."""

    source_id: int
    polled_at: datetime
    next_poll_at: datetime
    etag: str | None = None  # validators the server sent with it, if any
    last_modified: str | None = None


async def record_successes(session: AsyncSession, successes: Sequence[PollSuccess]) -> None:
    """Polls that went well (as `Source.record_poll` with no error), in one statement.

    A row already written by a later poll is left alone; validators the server did not
    send keep their stored values.
    """
    if not successes:
        return
    table = Source.__table__
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            or_(table.c.last_polled_at.is_(None), table.c.last_polled_at <= bindparam("b_at")),
        )
        .values(
            last_polled_at=bindparam("b_at"),
            last_error=None,
            last_success_at=bindparam("b_at"),
            failures=0,
            failing_since=None,
            failure_reported=False,
            next_poll_at=bindparam("b_next"),
            claimed_until=None,
            etag=func.coalesce(bindparam("b_etag", type_=String), table.c.etag),
            last_modified=func.coalesce(
                bindparam("b_modified", type_=String), table.c.last_modified
            ),
        )
    )
    rows = [
        {
            "b_id": s.source_id,
            "b_at": s.polled_at,
            "b_next": s.next_poll_at,
            "b_etag": s.etag,
            "b_modified": s.last_modified,
        }
        for s in successes
    ]
    await session.execute(statement, rows)


# --- aliases ----------------------------------------------------------------------------


async def alias_fingerprint(session: AsyncSession) -> tuple[int, ...]:
    """(count, max id) of chat aliases and of learned aliases: changes with either."""
    return await _fingerprint(session, ChatAlias, LearnedAlias)


async def index_fingerprint(session: AsyncSession) -> tuple[int, ...]:
    """Changes whenever a follow, a chat alias or a learned alias is added or removed."""
    return await _fingerprint(session, Follow, ChatAlias, LearnedAlias)


async def _fingerprint(session: AsyncSession, *models: type) -> tuple[int, ...]:
    """(count, max id) of each table, in one statement: ids are never reused
    (AUTOINCREMENT), so any insert or delete changes it."""
    columns = [
        select(aggregate(model.id)).scalar_subquery()
        for model in models
        for aggregate in (func.count, func.max)
    ]
    row = (await session.execute(select(*columns))).one()
    return tuple(int(value or 0) for value in row)


async def add_chat_alias(
    session: AsyncSession, chat_id: int, tag_key: str, alias_key: str, alias: str
) -> bool:
    """False when the chat already had that alias for that tag."""
    row = {"chat_id": chat_id, "tag_key": tag_key, "alias_key": alias_key, "alias": alias}
    return bool(
        await _insert_ignoring_conflicts(session, ChatAlias, [{**row, "created_at": utcnow()}])
    )


async def remove_chat_alias(
    session: AsyncSession, chat_id: int, tag_key: str, alias_key: str
) -> bool:
    removed = await session.scalars(
        delete(ChatAlias)
        .where(
            ChatAlias.chat_id == chat_id,
            ChatAlias.tag_key == tag_key,
            ChatAlias.alias_key == alias_key,
        )
        .returning(ChatAlias.id)
    )
    return bool(removed.all())


async def followed_chat_aliases(session: AsyncSession) -> list[tuple[int, str, str, str]]:
    """(chat, tag key, tag name, alias) for every chat alias of a tag its chat follows."""
    rows = await session.execute(
        select(ChatAlias.chat_id, ChatAlias.tag_key, Follow.tag_name, ChatAlias.alias).join(
            Follow,
            (Follow.chat_id == ChatAlias.chat_id) & (Follow.tag_key == ChatAlias.tag_key),
        )
    )
    return [tuple(row) for row in rows]


async def chat_aliases(session: AsyncSession, chat_id: int | None = None) -> list[ChatAlias]:
    """One chat's aliases, or (None) every chat's."""
    query = select(ChatAlias).order_by(ChatAlias.id)
    if chat_id is not None:
        query = query.where(ChatAlias.chat_id == chat_id)
    return list(await session.scalars(query))


async def learned_aliases(session: AsyncSession) -> list[LearnedAlias]:
    return list(await session.scalars(select(LearnedAlias).order_by(LearnedAlias.id)))


async def record_definitions(
    session: AsyncSession,
    article_id: int,
    source_host: str,
    pairs: Iterable[tuple[str, str, str, str]],
) -> None:
    """Remember which (short key, long key, short, long) definitions an article spelled out."""
    rows = [
        {
            "short_key": sk,
            "long_key": lk,
            "short": s,
            "long": long,
            "article_id": article_id,
            "source_host": source_host[:256],
        }
        for sk, lk, s, long in pairs
    ]
    await _insert_ignoring_conflicts(session, DefinitionSighting, rows)


async def definition_sightings(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> list[DefinitionSighting]:
    """Every sighting of these (short key, long key) pairs."""
    pairs = list(set(pairs))
    if not pairs:
        return []
    condition = or_(
        *(
            (DefinitionSighting.short_key == short) & (DefinitionSighting.long_key == long)
            for short, long in pairs
        )
    )
    return list(await session.scalars(select(DefinitionSighting).where(condition)))


async def learn_aliases(session: AsyncSession, pairs: Iterable[tuple[str, str, str, str]]) -> int:
    """Promote trusted (short key, long key, short, long) definitions to aliases."""
    rows = [
        {"short_key": sk, "long_key": lk, "short": s, "long": long, "learned_at": utcnow()}
        for sk, lk, s, long in pairs
    ]
    return await _insert_ignoring_conflicts(session, LearnedAlias, rows)
