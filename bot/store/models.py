"""The tables: chats and what they follow, sources, stories, and the delivery outbox.

The outbox row (chat, article) is unique: that key, written in the same transaction as the
article, is what makes "alerted once" survive crashes, restarts and a story reaching the bot
through several feeds.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel
from sqlalchemy.sql.expression import false, true
from sqlalchemy.types import TypeDecorator

from bot.core.article import Article as ArticleValue
from bot.core.schedule import Plan


def utcnow() -> datetime:
    """Now, timezone-aware, the only kind of time the store hands out."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns aware datetimes, on SQLite (which drops the zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


TITLE_LENGTH = 256  # chat and source titles are cut to this on write

# Identity columns: SQLite's INTEGER PRIMARY KEY, BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")
CASCADE = {"ondelete": "CASCADE", "onupdate": "CASCADE"}


class Chat(Base):
    """A Telegram chat the bot has heard from; `active` is false while it cannot receive."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(TITLE_LENGTH))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Delivery settings (see bot.core.schedule.Plan): held alerts wait, never vanish.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    digest: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    digest_at: Mapped[time] = mapped_column(Time, default=time(8), server_default="08:00:00")
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Telegram said "retry after" for this chat: nothing goes to it before then, not even
    # alerts queued meanwhile or edits.
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A private chat's /target: the chat its commands manage (None: itself). No foreign
    # key: adding one would make SQLite rebuild `chats`, and dropping the old table there
    # cascades into every follow. The queries keep it pointing at a known chat.
    target_id: Mapped[int | None] = mapped_column(BigInteger)

    def plan(self) -> Plan:
        quiet = (self.quiet_start, self.quiet_end) if self.quiet_start and self.quiet_end else None
        return Plan(self.timezone, quiet, self.digest, self.digest_at, self.muted_until)


class Follow(Base):
    """One tag a chat follows. `tag_key` is the normalized identity, `tag_name` as typed."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("chat_id", "tag_key"),
        # AUTOINCREMENT: ids never reused, so (count, max id) fingerprints the follow set.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", **CASCADE), index=True)
    tag_key: Mapped[str] = mapped_column(String(200), index=True)
    tag_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)  # the forum topic it was sent in


class Source(Base):
    """A feed the bot polls: the operator's (trusted, for every chat) or added from chats."""

    __tablename__ = "sources"
    # Claims look for due sources by next poll time (`queries.lease_due_sources`).
    __table_args__ = (Index("ix_sources_next_poll", "next_poll_at", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH), default="")
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    primed: Mapped[bool] = mapped_column(Boolean, default=False)
    etag: Mapped[str | None] = mapped_column(Text)  # servers send any length
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where it came from: "opml" (the SOURCES file), "cli", "chat" or "search" (a tag's
    # news search feed); only "opml" sources follow the file when it changes.
    added_by: Mapped[str] = mapped_column(String(10), default="opml", server_default="opml")
    search_tag_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # Polling health: when to poll next, and how long it has been failing.
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set while a process polls it (`queries.lease_due_sources`); lapses if that process dies.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What its last stored poll read, for whichever process polls it next: the body's
    # digest (the same bytes again are unchanged, for servers without ETags), its items'
    # fingerprints (those items are not read again; `feed.pack`) and its <ttl> in seconds.
    body_digest: Mapped[bytes | None] = mapped_column(LargeBinary)
    seen_items: Mapped[bytes | None] = mapped_column(LargeBinary)
    feed_ttl: Mapped[float | None] = mapped_column(Float)

    def record_poll(self, now: datetime, error: str | None) -> None:
        """Remember a poll's outcome (which ends its claim): a success clears the failure
        streak."""
        self.last_polled_at, self.last_error, self.claimed_until = now, error, None
        if error is None:
            self.last_success_at = now
            self.failures, self.failing_since, self.failure_reported = 0, None, False
        else:
            self.failures += 1
            self.failing_since = self.failing_since or now

    def health(self) -> str:
        """One short phrase: how polling this source goes."""
        if self.last_error:
            since = self.failing_since or self.last_polled_at
            when = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
            return f"failing{when}: {self.last_error}"
        if self.last_success_at:
            return f"ok, {self.last_success_at:%Y-%m-%d %H:%M} UTC"
        return "not polled yet"


class ChatSource(Base):
    """A chat's own source: its stories are alerted to the chats that added it."""

    __tablename__ = "chat_sources"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", **CASCADE), primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Article(Base):
    """A story as first seen; `first_seen_at` decides which follows it may alert."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    guid: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # False when first stored by a source's first, silent poll: then no chat was considered
    # for it, and a later copy from another feed is still news to those who followed before.
    announced: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Lets a many-row INSERT ... RETURNING on SQLite give ids in the rows' order in one
    # statement; without it SQLAlchemy inserts a feed's new stories one statement each.
    _sentinel: Mapped[int | None] = orm_insert_sentinel()

    def as_value(self) -> ArticleValue:
        """The stored story as the core's plain value."""
        return ArticleValue(
            title=self.title,
            link=self.link,
            guid=self.guid,
            summary=self.summary,
            content=self.content,
            categories=tuple(self.categories or ()),
            published=self.published_at,
        )


class StoryKey(Base):
    """A key a story is known by (canonical link, guid): one story, many keys."""

    __tablename__ = "story_keys"

    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )


class Delivery(Base):
    """The outbox: one alert for one chat, sent once; `sent_at` set only after Telegram took it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("chat_id", "article_id"),
        Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
        Index("ix_outbox_revise", "revise", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", **CASCADE))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Tag name -> the normalized term that matched it, so the alert can say why.
    matched: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    # A single alert's message, kept so it can be edited when more outlets carry the story.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A sent alert whose text is out of date: edited at `next_attempt_at`, then cleared.
    revise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Coverage(Base):
    """Another outlet that carried a stored story: "also reported by" on its alert."""

    __tablename__ = "coverage"
    __table_args__ = (UniqueConstraint("article_id", "publisher_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    publisher_key: Mapped[str] = mapped_column(String(TITLE_LENGTH))  # normalized name
    publisher: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    link: Mapped[str] = mapped_column(Text, default="")
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatAlias(Base):
    """A name a chat added to one of its tags with /alias; it matches for that chat only."""

    __tablename__ = "chat_aliases"
    __table_args__ = (
        UniqueConstraint("chat_id", "tag_key", "alias_key"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", **CASCADE), index=True)
    tag_key: Mapped[str] = mapped_column(String(200))
    alias_key: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DefinitionSighting(Base):
    """An article that spelled out an acronym ("Full Name (ACR)"): evidence for an alias."""

    __tablename__ = "definition_sightings"
    __table_args__ = (UniqueConstraint("short_key", "long_key", "article_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    short_key: Mapped[str] = mapped_column(String(200))
    long_key: Mapped[str] = mapped_column(String(200))
    short: Mapped[str] = mapped_column(String(200))
    long: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    source_host: Mapped[str] = mapped_column(String(256))


class LearnedAlias(Base):
    """A definition seen often enough, in enough sources, to be used as an alias."""

    __tablename__ = "learned_aliases"
    __table_args__ = (UniqueConstraint("short_key", "long_key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    short_key: Mapped[str] = mapped_column(String(200))
    long_key: Mapped[str] = mapped_column(String(200))
    short: Mapped[str] = mapped_column(String(200))
    long: Mapped[str] = mapped_column(String(200))
    learned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
