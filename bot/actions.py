"""What a chat can ask for, independent of Telegram: the handlers' only way to the core.

Each action takes plain values (a chat id, what was typed) and returns plain results, so
the same actions can later serve a web page or a second chat platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.matching import TagIndex
from bot.core.schedule import (
    Plan,
    ScheduleError,
    parse_digest,
    parse_quiet,
    parse_timezone,
)
from bot.core.tags import MAX_TAG_LENGTH, Tag, TagError, make_tag, split_tags
from bot.core.text import normalize
from bot.delivery.buttons import Press
from bot.ingest import Ingestor, PollReport
from bot.search import search_urls
from bot.sources.guard import UnsafeURLError, check_public, check_url
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Chat, Source, utcnow

MAX_TAGS_PER_CHAT = 200
LATEST_SCAN = 1000  # how many recent stories /latest looks through


class ActionError(Exception):
    """The request cannot be done; the message says why, in words for the chat."""


@dataclass
class TagChange:
    """The outcome of /follow or /unfollow, tag by tag."""

    changed: list[Tag] = field(default_factory=list)
    unchanged: list[Tag] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_tags(text: str, aliases: AliasTable) -> TagChange:
    """Tags typed after a command; the ones that cannot be tags become error sentences."""
    result = TagChange()
    for name in split_tags(text):
        try:
            result.unchanged.append(make_tag(name, aliases))
        except TagError as exc:
            result.errors.append(str(exc))
    return result


async def follow(
    store: Store,
    chat_id: int,
    text: str,
    aliases: AliasTable,
    thread_id: int | None = None,
    search_templates: Sequence[str] = (),
) -> TagChange:
    """Follow tags; in a forum topic (`thread_id`) their alerts go to that topic. Each new
    tag also gets its news search feeds (shared with every chat that follows it)."""
    result = parse_tags(text, aliases)
    async with store.transaction() as session:
        have = len(await queries.chat_follows(session, chat_id))
        room = max(MAX_TAGS_PER_CHAT - have, 0)
        if len(result.unchanged) > room:
            result.errors.append(
                f"A chat can follow up to {MAX_TAGS_PER_CHAT} tags; "
                f"{len(result.unchanged) - room} were not added."
            )
        added = await queries.follow(session, chat_id, result.unchanged[:room], thread_id)
        for tag in added:
            for url in search_urls(search_templates, tag):
                await queries.ensure_search_source(
                    session, tag.key, url, f"News search: {tag.name}"
                )
    keys = {t.key for t in added}
    return TagChange(added, [t for t in result.unchanged if t.key not in keys], result.errors)


async def unfollow(store: Store, chat_id: int, text: str, aliases: AliasTable) -> TagChange:
    result = parse_tags(text, aliases)
    async with store.transaction() as session:
        removed = await queries.unfollow(session, chat_id, [t.key for t in result.unchanged])
    return TagChange(
        [t for t in result.unchanged if t.key in removed],
        [t for t in result.unchanged if t.key not in removed],
        result.errors,
    )


async def chat_tags(store: Store, chat_id: int, aliases: AliasTable) -> list[Tag]:
    async with store.transaction() as session:
        follows = await queries.chat_follows(session, chat_id)
    return parse_tags("\n".join(f.tag_name for f in follows), aliases).unchanged


async def latest(
    store: Store, chat_id: int, text: str, aliases: AliasTable, count: int = 5
) -> tuple[Tag, list[Article]]:
    """The newest stored stories this chat could be alerted to that match a tag."""
    try:
        tag = make_tag(text, aliases)
    except TagError as exc:
        raise ActionError(str(exc)) from None
    index = TagIndex([tag])
    async with store.transaction() as session:
        recent = await queries.recent_articles_for_chat(session, chat_id, LATEST_SCAN)
    return tag, [a for a in (row.as_value() for row in recent) if index.match(a)][:count]


@dataclass(frozen=True)
class AddedSource:
    url: str
    items: int


# Each chat feed costs every poll round a fetch and a parse, so one chat cannot add without end.
MAX_SOURCES_PER_CHAT = 50


async def add_source(
    store: Store, ingestor: Ingestor, chat_id: int, text: str, *, allow_private: bool
) -> AddedSource:
    """Check, store and poll a chat's own feed; undone if the first poll fails.

    A page that links to its feed (<link rel="alternate">) is replaced by that feed; a page
    without one is polled as a list of articles.
    """
    async with store.transaction() as session:
        if len(await queries.chat_sources(session, chat_id)) >= MAX_SOURCES_PER_CHAT:
            raise ActionError(
                f"This chat already has {MAX_SOURCES_PER_CHAT} feeds of its own, the most it "
                "may have; remove one with /removesource first."
            )
    url = await _safe_url(text, allow_private)
    report = await _link_and_poll(store, ingestor, chat_id, url)
    if report.alternates and report.alternates[0] != url:
        feed_url = await _safe_url(report.alternates[0], allow_private)
        async with store.transaction() as session:
            await queries.remove_chat_source(session, chat_id, report.source_id)
        url, report = feed_url, await _link_and_poll(store, ingestor, chat_id, feed_url)
    return AddedSource(url, report.items)


async def _safe_url(text: str, allow_private: bool) -> str:
    try:
        url = check_url(text)
        if not allow_private:
            await check_public(url)
    except UnsafeURLError as exc:
        raise ActionError(str(exc)) from None
    return url


async def _link_and_poll(store: Store, ingestor: Ingestor, chat_id: int, url: str) -> PollReport:
    """Add the source to the chat and poll it now, for the answer to tell how it went."""
    async with store.transaction() as session:
        created = await queries.add_chat_source(session, chat_id, url, title=url)
        source = await queries.source_by_url(session, url)
        if created:
            # Claimed as it is linked, so no poll process polls it beside this poll; one
            # that already holds it (another chat's feed) makes this poll a second fetch.
            await queries.claim_source(session, source.id, utcnow())
    if not created:
        raise ActionError("This chat already has that source.")
    # Fresh: the source may have been polled before (for another chat, or added and
    # removed), and this answer tells the chat what it lists and swaps a page for its feed.
    report = await ingestor.poll(source.id, fresh=True)
    if report.error:
        async with store.transaction() as session:
            await queries.remove_chat_source(session, chat_id, source.id)
        raise ActionError(f"I could not use that feed: {report.error}")
    return report


ALIAS_USAGE = "Write it as /alias TAG = NAME, for example: /alias KIDA = 국방연구원"


def _alias_parts(text: str) -> tuple[str, str]:
    """("KIDA", "Korea Institute for Defense Analyses") from "KIDA = Korea Institute ..."."""
    tag, sep, name = text.partition("=")
    tag, name = " ".join(tag.split()), " ".join(name.split())
    if not sep or not tag or not name:
        raise ActionError(ALIAS_USAGE)
    if not normalize(tag) or not normalize(name):
        raise ActionError("Both the tag and the name need letters or digits.")
    if max(len(tag), len(name)) > MAX_TAG_LENGTH:
        raise ActionError(f"Keep the tag and the name to {MAX_TAG_LENGTH} characters each.")
    return tag, name


async def add_alias(store: Store, chat_id: int, text: str) -> tuple[str, str, bool]:
    """A name that, in this chat, counts as the tag (e.g. a local spelling or nickname)."""
    tag, name = _alias_parts(text)
    async with store.transaction() as session:
        added = await queries.add_chat_alias(
            session, chat_id, normalize(tag), normalize(name), name
        )
    return tag, name, added


async def remove_alias(store: Store, chat_id: int, text: str) -> tuple[str, str, bool]:
    tag, name = _alias_parts(text)
    async with store.transaction() as session:
        removed = await queries.remove_chat_alias(session, chat_id, normalize(tag), normalize(name))
    return tag, name, removed


async def press(store: Store, chat_id: int, request: Press) -> str:
    """Act on an alert's button pressed in `chat_id`; returns the answer to show."""
    async with store.transaction() as session:
        if request.follow_id is not None:
            name = await queries.unfollow_by_id(session, chat_id, request.follow_id)
            return f"Stopped following {name}." if name else "This chat no longer follows that tag."
        until = utcnow() + timedelta(hours=request.mute_hours or 0)
        await queries.update_chat_settings(session, chat_id, muted_until=until)
    return f"Muted for {request.mute_hours} hours; alerts wait and come after."


async def change_settings(store: Store, chat_id: int, setting: str, text: str) -> Plan:
    """Apply /digest, /timezone or /quiet; returns the chat's plan after the change."""
    try:
        if setting == "digest":
            mode, at = parse_digest(text)
            values: dict[str, object] = {"digest": mode, **({"digest_at": at} if at else {})}
        elif setting == "timezone":
            values = {"timezone": parse_timezone(text)}
        else:
            window = parse_quiet(text)
            values = {
                "quiet_start": window[0] if window else None,
                "quiet_end": window[1] if window else None,
            }
    except ScheduleError as exc:
        raise ActionError(str(exc)) from None
    async with store.transaction() as session:
        await queries.update_chat_settings(session, chat_id, **values)
    return await chat_plan(store, chat_id)


async def chat_plan(store: Store, chat_id: int) -> Plan:
    async with store.transaction() as session:
        chat = await queries.chat_settings(session, chat_id)
    return chat.plan() if chat else Plan()


async def chat_sources(store: Store, chat_id: int) -> tuple[list[Source], int]:
    """The chat's own sources, and how many sources every chat gets."""
    async with store.transaction() as session:
        own = await queries.chat_sources(session, chat_id)
        shared = sum(1 for s in await queries.all_sources(session) if s.operator)
    return own, shared


async def remove_source(store: Store, chat_id: int, text: str) -> str:
    async with store.transaction() as session:
        for source in await queries.chat_sources(session, chat_id):
            if text.strip() in (source.url, str(source.id)):
                await queries.remove_chat_source(session, chat_id, source.id)
                return source.url
    raise ActionError("This chat has no such source; /sources lists them.")


@dataclass(frozen=True)
class ManagedChat:
    """A channel or group a private chat manages with /target: its commands act there."""

    id: int
    title: str
    type: str


def _managed(chat: Chat | None) -> ManagedChat | None:
    """The stored chat as a plain value; a chat without a title is named by its id."""
    if chat is None:
        return None
    return ManagedChat(chat.id, chat.title or str(chat.id), chat.type)


async def set_target(store: Store, chat_id: int, target: ManagedChat) -> None:
    """Make `chat_id`'s commands act on `target`, recorded as a chat alerts can go to."""
    async with store.transaction() as session:
        await queries.touch_chat(session, target.id, target.type, target.title)
        await queries.set_target(session, chat_id, target.id)


async def clear_target(store: Store, chat_id: int) -> ManagedChat | None:
    """Commands act on the chat itself again; returns the chat it managed until now."""
    async with store.transaction() as session:
        previous = await queries.target_of(session, chat_id)
        await queries.set_target(session, chat_id, None)
    return _managed(previous)


async def target(store: Store, chat_id: int) -> ManagedChat | None:
    """The chat `chat_id`'s commands act on, if not itself."""
    async with store.transaction() as session:
        return _managed(await queries.target_of(session, chat_id))
