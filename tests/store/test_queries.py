"""The store's reads and writes, on SQLite and (with NEWSBOT_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.core.article import Article
from bot.core.tags import Tag
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Chat, Delivery, Follow, Source

KIDA = Tag(key="kida", name="KIDA", terms=("kida",))
NATO = Tag(key="nato", name="NATO", terms=("nato",))


async def _chat(store: Store, chat_id: int = -100) -> None:
    async with store.transaction() as session:
        await queries.touch_chat(session, chat_id, "supergroup", "Defence desk")


async def test_follow_is_idempotent_and_unfollow_reports_what_was_followed(store: Store) -> None:
    await _chat(store)
    async with store.transaction() as session:
        assert await queries.follow(session, -100, [KIDA, NATO]) == [KIDA, NATO]
    async with store.transaction() as session:
        assert await queries.follow(session, -100, [KIDA]) == []
        assert await queries.unfollow(session, -100, ["nato", "iiss"]) == {"nato"}
        assert [f.tag_name for f in await queries.chat_follows(session, -100)] == ["KIDA"]


async def test_fingerprint_changes_on_every_follow_change(store: Store) -> None:
    """Ids are never reused, so (count, max id) changes with every change of the set."""
    await _chat(store)
    seen = []
    for step in (
        lambda s: queries.follow(s, -100, [KIDA]),
        lambda s: queries.follow(s, -100, [NATO]),
        lambda s: queries.unfollow(s, -100, ["nato"]),
        lambda s: queries.follow(s, -100, [NATO]),  # same count as two steps ago
    ):
        async with store.transaction() as session:
            await step(session)
            seen.append(await queries.follow_fingerprint(session))
    assert all(a != b for a, b in itertools.pairwise(seen))
    assert seen[1] != seen[3]  # same count, different set: NATO came back under a new id


async def test_story_keys_find_the_stored_story(store: Store) -> None:
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, [("https://a.example/rss", "A")])
        source = await queries.source_by_url(session, "https://a.example/rss")
        now = datetime(2025, 4, 16, 9, 30, tzinfo=UTC)
        article_id = await queries.insert_article(
            session,
            source.id,
            Article(title="t", link="https://a.example/1"),
            ["url:x", "guid:y"],
            now,
        )
    async with store.transaction() as session:
        known = await queries.known_stories(session, ["url:x", "guid:z"])
    assert list(known) == ["url:x"]
    assert known["url:x"].article_id == article_id
    assert known["url:x"].first_seen_at == now  # aware UTC back from both databases


async def test_outbox_pair_is_unique_and_due_only_for_active_chats(store: Store) -> None:
    await _chat(store)
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, [("https://a.example/rss", "A")])
        source = await queries.source_by_url(session, "https://a.example/rss")
        article_id = await queries.insert_article(
            session, source.id, Article(title="t"), ["url:x"], datetime.now(UTC)
        )
        assert (
            await queries.enqueue(session, article_id, {-100: queries.Queued({"KIDA": "kida"})})
            == 1
        )
    async with store.transaction() as session:
        assert (
            await queries.enqueue(session, article_id, {-100: queries.Queued({"KIDA": "kida"})})
            == 0
        )
        due = await queries.due_deliveries(session, datetime.now(UTC), 10)
        assert [(d.chat_id, d.tags, d.source_title) for d in due] == [(-100, ["KIDA"], "A")]
        await queries.deactivate_chat(session, -100)
    async with store.transaction() as session:
        assert await queries.due_deliveries(session, datetime.now(UTC), 10) == []
    await _chat(store)  # the chat speaks again: it is active and its alert is still due
    async with store.transaction() as session:
        assert len(await queries.due_deliveries(session, datetime.now(UTC), 10)) == 1
        await queries.postpone(
            session, [due[0].delivery_id], datetime.now(UTC) + timedelta(hours=1), "x"
        )
        assert await queries.due_deliveries(session, datetime.now(UTC), 10) == []


async def test_recipients_respect_source_scope_and_tell_when_each_followed(store: Store) -> None:
    await _chat(store, -100)
    await _chat(store, -200)
    async with store.transaction() as session:
        await queries.follow(session, -100, [KIDA])
        await queries.follow(session, -200, [KIDA])
        await queries.sync_operator_sources(session, [("https://op.example/rss", "Op")])
        await queries.add_chat_source(session, -200, "https://own.example/rss", "Own")
        operator = await queries.source_by_url(session, "https://op.example/rss")
        own = await queries.source_by_url(session, "https://own.example/rss")
        everyone = await queries.recipients(session, ["kida"], operator)
        assert [r.chat_id for r in everyone] == [-100, -200]
        assert [r.chat_id for r in await queries.recipients(session, ["kida"], own)] == [-200]
        assert all(r.followed_at <= datetime.now(UTC) for r in everyone)
        assert await queries.recipients(session, ["other"], operator) == []


async def test_operator_sources_follow_the_opml(store: Store) -> None:
    async with store.transaction() as session:
        await queries.sync_operator_sources(
            session, [("https://a/rss", "A"), ("https://b/rss", "B")]
        )
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, [("https://b/rss", "B")])
    async with store.transaction() as session:
        rows = {s.url: s.operator for s in await session.scalars(select(Source))}
        now = datetime.now(UTC)
        due = [s.id for s in await queries.lease_due_sources(session, now, now, 10)]
    assert rows == {"https://a/rss": False, "https://b/rss": True}
    assert len(due) == 1


async def test_migrating_a_chat_moves_follows_and_alerts(store: Store) -> None:
    await _chat(store, -5)
    async with store.transaction() as session:
        await queries.follow(session, -5, [KIDA])
        await queries.sync_operator_sources(session, [("https://a/rss", "A")])
        source = await queries.source_by_url(session, "https://a/rss")
        article_id = await queries.insert_article(
            session, source.id, Article(title="t"), ["k"], datetime.now(UTC)
        )
        await queries.enqueue(session, article_id, {-5: queries.Queued({"KIDA": "kida"})})
    async with store.transaction() as session:
        await queries.migrate_chat(session, -5, -1005)
    async with store.transaction() as session:
        assert await session.get(Chat, -5) is None
        assert [f.chat_id for f in await session.scalars(select(Follow))] == [-1005]
        assert [d.chat_id for d in await session.scalars(select(Delivery))] == [-1005]


async def test_a_private_chat_targets_another_chat_which_keeps_it_through_an_upgrade(
    store: Store,
) -> None:
    """/target: stored per chat (not in a process), and moved when the group is upgraded."""
    for chat_id, kind in ((33, "private"), (-5, "group"), (-1005, "supergroup")):
        async with store.transaction() as session:
            await queries.touch_chat(session, chat_id, kind, f"Chat {chat_id}")
    async with store.transaction() as session:
        assert await queries.target_of(session, 33) is None
        await queries.set_target(session, 33, -5)
    async with store.transaction() as session:
        assert (await queries.target_of(session, 33)).title == "Chat -5"
        await queries.migrate_chat(session, -5, -1005)  # both known: the old row goes
    async with store.transaction() as session:
        assert (await queries.target_of(session, 33)).id == -1005
        await queries.set_target(session, 33, None)
    async with store.transaction() as session:
        assert await queries.target_of(session, 33) is None


async def _queued(store: Store, chat_id: int, title: str) -> int:
    """One alert for `chat_id` about a new article; returns the article id."""
    async with store.transaction() as session:
        await queries.sync_operator_sources(session, [("https://a.example/rss", "A")])
        source = await queries.source_by_url(session, "https://a.example/rss")
        article_id = await queries.insert_article(
            session, source.id, Article(title=title), [f"url:{title}"], datetime.now(UTC)
        )
        await queries.enqueue(session, article_id, {chat_id: queries.Queued({"KIDA": "kida"})})
    return article_id


async def test_a_429_holds_the_whole_chat_even_what_is_queued_later(store: Store) -> None:
    await _chat(store)
    await _queued(store, -100, "before")
    now = datetime.now(UTC)
    async with store.transaction() as session:
        await queries.postpone_chat(session, -100, now + timedelta(seconds=30), "429")
        await queries.update_chat_settings(session, -100, timezone="Asia/Seoul")  # no release
    await _queued(store, -100, "during")
    async with store.transaction() as session:
        assert await queries.due_deliveries(session, now + timedelta(seconds=5), 10) == []
        later = await queries.due_deliveries(session, now + timedelta(seconds=31), 10)
    assert sorted(d.article.title for d in later) == ["before", "during"]


async def test_new_settings_do_not_cut_a_failed_alerts_backoff_short(store: Store) -> None:
    await _chat(store)
    await _queued(store, -100, "failed")
    now = datetime.now(UTC)
    async with store.transaction() as session:
        [due] = await queries.due_deliveries(session, now, 10)
        await queries.postpone(session, [due.delivery_id], now + timedelta(minutes=5), "500")
        await queries.update_chat_settings(session, -100, digest="hourly")
        assert await queries.due_deliveries(session, now + timedelta(minutes=1), 10) == []


async def test_an_upgraded_group_keeps_its_settings_when_the_supergroup_spoke_first(
    store: Store,
) -> None:
    await _chat(store, -5)
    await _chat(store, -1005)  # the supergroup's own service message arrived first
    async with store.transaction() as session:
        await queries.update_chat_settings(
            session, -5, timezone="Asia/Seoul", digest="daily", quiet_start=None
        )
        await queries.migrate_chat(session, -5, -1005)
    async with store.transaction() as session:
        chat = await session.get(Chat, -1005)
        assert (chat.timezone, chat.digest) == ("Asia/Seoul", "daily")
        assert await session.get(Chat, -5) is None


async def test_search_feeds_are_not_due_when_search_is_off(store: Store) -> None:
    await _chat(store)
    async with store.transaction() as session:
        await queries.follow(session, -100, [KIDA])
        await queries.ensure_search_source(session, "kida", "https://search.example/?q=kida", "S")
        now = datetime.now(UTC)
        assert await queries.lease_due_sources(session, now, now, 10, search=False) == []
        assert [s.url for s in await queries.lease_due_sources(session, now, now, 10)] == [
            "https://search.example/?q=kida"
        ]


async def test_a_channels_notices_go_to_the_chats_that_manage_it(store: Store) -> None:
    async with store.transaction() as session:
        await queries.touch_chat(session, -100777, "channel", "Defence wire")
        await queries.touch_chat(session, 42, "private", "Editor")
        await queries.touch_chat(session, 43, "private", "Reader")
        await queries.set_target(session, 42, -100777)
        assert await queries.notice_recipients(session, -100777) == [(42, "Defence wire")]
        assert await queries.notice_recipients(session, 43) == [(43, None)]
