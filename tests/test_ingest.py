"""One poll of one source, through the real fetcher, parser, matcher and store."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import actions, ingest
from bot.core.aliases import AliasTable
from bot.core.tags import make_tag
from bot.ingest import IndexCache, Ingestor, PollReport
from bot.sources.fetch import Fetcher
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Delivery, Source
from bot.vocabulary import Vocabulary
from tests.fakes.feed_server import FeedServer, rss

ALIASES = AliasTable.load()
GROUP, OTHER = -100, -200
FULL_NAME = {
    "title": "Defense exports",
    "link": "https://herald.example/a?ud=1",
    "guid": "herald-1",
    "description": "said an analyst at the Korea Institute for Defense Analyses",
}
UNRELATED = {"title": "Weather", "link": "https://herald.example/w", "description": "Rain."}


async def _setup(store: Store, feeds: FeedServer, *paths: str) -> list[int]:
    async with store.transaction() as session:
        for chat in (GROUP, OTHER):
            await queries.touch_chat(session, chat, "supergroup", None)
        await queries.follow(session, GROUP, [make_tag("KIDA", ALIASES)])
        await queries.sync_operator_sources(session, [(feeds.url(p), p) for p in paths])
        return [(await queries.source_by_url(session, feeds.url(p))).id for p in paths]


async def _outbox(store: Store) -> list[tuple[int, list[str]]]:
    async with store.transaction() as session:
        return [(d.chat_id, d.tags) for d in await session.scalars(select(Delivery))]


async def test_first_poll_learns_then_new_matches_are_queued_once(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    feeds.set_feed("/a.xml", rss([FULL_NAME]))
    [source] = await _setup(store, feeds, "/a.xml")
    first = await ingestor.poll(source)
    assert (first.new_articles, first.queued) == (1, 0)  # existing items never flood a chat

    second_story = {**FULL_NAME, "link": "https://herald.example/b", "guid": "herald-2"}
    feeds.set_feed("/a.xml", rss([FULL_NAME, second_story, UNRELATED]))
    report = await ingestor.poll(source)
    assert (report.new_articles, report.queued) == (2, 1)
    assert ingestor.wake.is_set()
    assert await _outbox(store) == [(GROUP, ["KIDA"])]

    again = await ingestor.poll(source)
    assert again.not_modified  # conditional GET: the feed server answered 304
    feeds.set_feed("/a.xml", rss([second_story, FULL_NAME]), etag=None)
    assert (await ingestor.poll(source)).queued == 0
    assert len(await _outbox(store)) == 1


async def test_a_feed_without_validators_sending_the_same_bytes_is_not_read_again(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Servers without ETag or Last-Modified answer 200 every time: the bytes tell."""
    feeds.set_feed("/a.xml", rss([FULL_NAME]), etag=None)
    [source] = await _setup(store, feeds, "/a.xml")
    await ingestor.poll(source)
    parsed = []
    monkeypatch.setattr("bot.ingest.parse_document", lambda *a, **k: parsed.append(a))
    again = await ingestor.poll(source)
    assert again.not_modified and parsed == []
    async with store.transaction() as session:
        before = (await session.get(Source, source)).last_polled_at
    await ingestor.flush()  # unchanged polls are written together
    async with store.transaction() as session:
        row = await session.get(Source, source)
    assert row.last_polled_at > before
    assert row.last_success_at == row.last_polled_at and row.next_poll_at > row.last_polled_at

    monkeypatch.undo()
    second_story = {**FULL_NAME, "link": "https://herald.example/b", "guid": "herald-2"}
    feeds.set_feed("/a.xml", rss([FULL_NAME, second_story]), etag=None)
    report = await ingestor.poll(source)  # new bytes: read, and only the new item is news
    assert (report.items, report.new_articles, report.queued) == (2, 1, 1)


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool, frozenset[int]]]:
    """Each parse a poll makes: (which parser, on the main thread, the `seen` it got)."""
    calls: list[tuple[str, bool, frozenset[int]]] = []

    def watched(name: str) -> None:
        real = getattr(ingest, name)

        def parse(*args: object, **kwargs: object) -> ingest.ParsedFeed | None:
            main = threading.current_thread() is threading.main_thread()
            calls.append((name, main, kwargs["seen"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(ingest, name, parse)

    watched("parse_quickly")
    watched("parse_document")
    return calls


async def test_what_a_poll_read_serves_the_next_poll_in_any_process(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body's digest and the items' fingerprints are stored with the source, so a poll
    made by another process (POLL_PROCESSES) or after a restart, here another Ingestor,
    neither reads the same bytes again nor converts the items already stored."""
    parses = _parses(monkeypatch)
    feeds.set_feed("/a.xml", rss([FULL_NAME]), etag=None)
    [source] = await _setup(store, feeds, "/a.xml")
    await ingestor.poll(source)
    async with Fetcher(allow_private_networks=True) as fetcher:
        other = Ingestor(store, fetcher, IndexCache(store, Vocabulary(store, ALIASES)))
        assert (await other.poll(source)).not_modified  # the same bytes, no ETag
        second_story = {**FULL_NAME, "link": "https://herald.example/b", "guid": "herald-2"}
        feeds.set_feed("/a.xml", rss([second_story, FULL_NAME]), etag=None)
        report = await other.poll(source)
    assert (report.items, report.new_articles, report.queued) == (2, 1, 1)
    [(_, _, first), (_, _, second)] = parses
    assert first == frozenset() and len(second) == 1  # the first item was not read again


async def test_a_chat_adding_a_source_polled_before_is_told_what_it_lists(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """Stored validators and digests would make its poll a 304 or 'unchanged': 0 items,
    and a page kept instead of the feed it links to. The add's poll reads it whole."""
    page = (
        '<html><head><link rel="alternate" type="application/rss+xml" '
        f'href="{feeds.url("/feed.xml")}"></head><body><h1>Herald</h1></body></html>'
    )
    feeds.set_feed("/page", page, content_type="text/html; charset=utf-8")
    feeds.set_feed("/feed.xml", rss([FULL_NAME]))
    await _setup(store, feeds)
    for chat in (GROUP, OTHER):
        added = await actions.add_source(
            store, ingestor, chat, feeds.url("/page"), allow_private=True
        )
        assert (added.url, added.items) == (feeds.url("/feed.xml"), 1)
    feeds.set_feed("/old.xml", rss([FULL_NAME]), etag=None)
    await actions.add_source(store, ingestor, GROUP, feeds.url("/old.xml"), allow_private=True)
    await actions.remove_source(store, GROUP, feeds.url("/old.xml"))
    again = await actions.add_source(
        store, ingestor, OTHER, feeds.url("/old.xml"), allow_private=True
    )
    assert again.items == 1


async def test_a_common_feed_is_parsed_on_the_event_loop_and_the_rest_in_a_thread(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile document may take a second to parse: a big one, one with many tags (an
    HTML tree builder's time grows with the square of their nesting), a page or broken XML
    (their readers are the slow ones) go to a thread. A common feed parses on the loop,
    cheaper than the thread's round trip."""
    parses = _parses(monkeypatch)
    monkeypatch.setattr("bot.sources.parse.QUICK_UP_TO", 4000)
    monkeypatch.setattr("bot.sources.parse.QUICK_TAGS", 60)

    def story(name: str, description: str = "KIDA said") -> dict[str, str]:
        link = f"https://herald.example/{name}"
        return {"title": name, "link": link, "guid": name, "description": description}

    documents = {
        "/common.xml": rss([story("common")]),
        "/big.xml": rss([story("big", "KIDA said" + " more" * 1000)]),
        "/tags.xml": rss([story("tags", "KIDA said" + "<div>" * 80)]),
        "/broken.xml": rss([story("broken")]).replace("</channel>", ""),
        "/page.html": '<html><head><link rel="alternate" type="application/rss+xml" '
        'href="/common.xml"></head><body></body></html>',
    }
    for path, document in documents.items():
        feeds.set_feed(path, document)
    sources = await _setup(store, feeds, *documents)
    for source in sources:
        assert (await ingestor.poll(source)).error is None
    where = [(name, main) for name, main, _seen in parses]
    quick, thread = ("parse_quickly", True), ("parse_document", False)
    assert where == [
        quick,  # common.xml: read on the loop
        *(quick, thread),  # big.xml: refused by parse_quickly, so read in a thread
        *(quick, thread),  # tags.xml: too many tags
        *(quick, thread),  # broken.xml: not for the quick readers
        *(quick, thread),  # page.html: the same
    ]


async def test_a_late_flush_never_undoes_a_later_poll(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """A 304 noted, then a failing poll written at once: the flush keeps the failure."""
    feeds.set_feed("/a.xml", rss([FULL_NAME]))
    [source] = await _setup(store, feeds, "/a.xml")
    await ingestor.poll(source)
    assert (await ingestor.poll(source)).not_modified
    feeds.set_feed("/a.xml", "gone", status=500)
    assert (await ingestor.poll(source)).error
    await ingestor.flush()
    async with store.transaction() as session:
        row = await session.get(Source, source)
    assert (row.failures, row.last_error is not None) == (1, True)


async def test_a_flush_that_fails_keeps_its_notes_for_the_next(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds.set_feed("/a.xml", rss([FULL_NAME]))
    [source] = await _setup(store, feeds, "/a.xml")
    await ingestor.poll(source)
    async with store.transaction() as session:
        first = (await session.get(Source, source)).last_polled_at
    assert (await ingestor.poll(source)).not_modified  # noted, written by a flush
    write = queries.record_successes

    async def database_gone(*args: object) -> None:
        raise OperationalError("UPDATE sources", {}, Exception("the database went away"))

    monkeypatch.setattr(queries, "record_successes", database_gone)
    with pytest.raises(OperationalError):
        await ingestor.flush()
    monkeypatch.setattr(queries, "record_successes", write)
    await ingestor.flush()
    async with store.transaction() as session:
        row = await session.get(Source, source)
    assert row.last_polled_at > first  # the 304's, kept through the failed flush


async def test_same_story_through_a_second_feed_is_one_story(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    feeds.set_feed("/a.xml", rss([]))
    feeds.set_feed("/b.xml", rss([]))
    a, b = await _setup(store, feeds, "/a.xml", "/b.xml")
    await ingestor.poll(a)
    await ingestor.poll(b)
    feeds.set_feed("/a.xml", rss([FULL_NAME]))
    copy = {**FULL_NAME, "link": FULL_NAME["link"] + "&utm_source=rss#top", "guid": "agg-9"}
    feeds.set_feed("/b.xml", rss([copy]))
    assert (await ingestor.poll(a)).queued == 1
    report = await ingestor.poll(b)
    assert (report.new_articles, report.queued) == (0, 0)
    assert len(await _outbox(store)) == 1


async def test_a_chats_own_source_alerts_only_that_chat(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    feeds.set_feed("/own.xml", rss([]))
    await _setup(store, feeds)
    async with store.transaction() as session:
        await queries.follow(session, OTHER, [make_tag("KIDA", ALIASES)])
        await queries.add_chat_source(session, OTHER, feeds.url("/own.xml"), "own")
        source = (await queries.source_by_url(session, feeds.url("/own.xml"))).id
    await ingestor.poll(source)
    feeds.set_feed("/own.xml", rss([FULL_NAME]))
    assert (await ingestor.poll(source)).queued == 1
    assert await _outbox(store) == [(OTHER, ["KIDA"])]


async def test_a_bad_feed_is_recorded_not_raised(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    feeds.set_feed("/bad.xml", b"<html><body>Not a feed</body></html>", content_type="text/html")
    feeds.set_feed("/gone.xml", b"", status=404)
    bad, gone = await _setup(store, feeds, "/bad.xml", "/gone.xml")
    for source_id in (bad, gone):
        report = await ingestor.poll(source_id)
        assert report.error
        async with store.transaction() as session:
            row = await session.get(Source, source_id)
            assert row.last_error == report.error and row.last_polled_at is not None
    assert "404" in (await ingestor.poll(gone)).error


async def test_follow_changes_reach_the_index(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    feeds.set_feed("/a.xml", rss([]))
    [source] = await _setup(store, feeds, "/a.xml")
    await ingestor.poll(source)
    async with store.transaction() as session:
        await queries.unfollow(session, GROUP, ["kida"])
        await queries.follow(session, GROUP, [make_tag("Weather", ALIASES)])
    feeds.set_feed("/a.xml", rss([FULL_NAME, UNRELATED]))
    assert (await ingestor.poll(source)).queued == 1
    assert await _outbox(store) == [(GROUP, ["Weather"])]


async def test_a_chat_source_on_a_private_network_is_refused(
    store: Store, feeds: FeedServer
) -> None:
    feeds.set_feed("/own.xml", rss([FULL_NAME]))
    await _setup(store, feeds)
    async with store.transaction() as session:
        await queries.add_chat_source(session, OTHER, feeds.url("/own.xml"), "own")
        source = (await queries.source_by_url(session, feeds.url("/own.xml"))).id
    async with Fetcher() as fetcher:
        report = await Ingestor(store, fetcher, IndexCache(store, Vocabulary(store, ALIASES))).poll(
            source
        )
    assert "private network" in report.error
    assert feeds.request_count("/own.xml") == 0


async def test_a_chat_may_add_only_so_many_feeds_of_its_own(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "MAX_SOURCES_PER_CHAT", 2)
    await _setup(store, feeds)
    for n in range(3):
        feeds.set_feed(f"/own{n}.xml", rss([]))
    for n in range(2):
        await actions.add_source(
            store, ingestor, OTHER, feeds.url(f"/own{n}.xml"), allow_private=True
        )
    with pytest.raises(actions.ActionError, match="/removesource"):
        await actions.add_source(store, ingestor, OTHER, feeds.url("/own2.xml"), allow_private=True)
    assert feeds.request_count("/own2.xml") == 0


@pytest.mark.parametrize("unchanged", [False, True])
async def test_a_feed_that_moved_for_good_is_polled_at_its_new_address(
    store: Store, feeds: FeedServer, ingestor: Ingestor, unchanged: bool
) -> None:
    feeds.set_feed("/old.xml", rss([FULL_NAME]))
    [source] = await _setup(store, feeds, "/old.xml")
    await ingestor.poll(source)
    feeds.set_feed("/new.xml", rss([FULL_NAME]) if unchanged else rss([UNRELATED]), etag=None)
    feeds.redirect("/old.xml", "/new.xml", status=301)
    await ingestor.poll(source)
    await ingestor.flush()
    async with store.transaction() as session:
        assert (await session.get(Source, source)).url == feeds.url("/new.xml")


async def _own_and_operator_feeds(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> tuple[int, int]:
    """GROUP and OTHER follow KIDA; OTHER has a feed of its own; both feeds primed, empty."""
    feeds.set_feed("/own.xml", rss([]))
    feeds.set_feed("/op.xml", rss([]))
    [operator] = await _setup(store, feeds, "/op.xml")
    async with store.transaction() as session:
        await queries.follow(session, OTHER, [make_tag("KIDA", ALIASES)])
        await queries.add_chat_source(session, OTHER, feeds.url("/own.xml"), "own")
        own = (await queries.source_by_url(session, feeds.url("/own.xml"))).id
    await ingestor.poll(own)
    await ingestor.poll(operator)
    return own, operator


async def test_a_story_first_seen_on_a_chat_feed_still_reaches_everyone(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """The operator's feed speaks to every chat, even if a chat's own feed had it first."""
    own, operator = await _own_and_operator_feeds(store, feeds, ingestor)
    feeds.set_feed("/own.xml", rss([FULL_NAME]))
    feeds.set_feed("/op.xml", rss([FULL_NAME]))
    assert (await ingestor.poll(own)).queued == 1
    assert (await ingestor.poll(operator)).queued == 1
    assert sorted(await _outbox(store)) == [(OTHER, ["KIDA"]), (GROUP, ["KIDA"])]
    assert (await ingestor.poll(operator)).queued == 0


async def test_a_chat_that_followed_after_a_story_was_first_seen_does_not_get_it(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """A story is news to a follow only if it was first seen after the follow was made."""
    own, operator = await _own_and_operator_feeds(store, feeds, ingestor)
    async with store.transaction() as session:
        await queries.unfollow(session, GROUP, ["kida"])
    feeds.set_feed("/own.xml", rss([FULL_NAME]))
    assert (await ingestor.poll(own)).queued == 1  # OTHER's own feed: OTHER alone
    async with store.transaction() as session:
        await queries.follow(session, GROUP, [make_tag("KIDA", ALIASES)])
    feeds.set_feed("/op.xml", rss([FULL_NAME]))
    assert (await ingestor.poll(operator)).queued == 0  # old news to GROUP's new follow
    assert await _outbox(store) == [(OTHER, ["KIDA"])]


async def test_a_new_feeds_silent_first_poll_does_not_swallow_a_story_for_older_follows(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """A feed's first poll alerts no one; the story is still news when another feed has it."""
    feeds.set_feed("/herald.xml", rss([]))
    [herald] = await _setup(store, feeds, "/herald.xml")  # GROUP follows KIDA
    await ingestor.poll(herald)
    async with store.transaction() as session:  # e.g. a search feed made by another follow
        await queries.sync_operator_sources(
            session, [(feeds.url("/herald.xml"), "Herald"), (feeds.url("/new.xml"), "New")]
        )
        new = (await queries.source_by_url(session, feeds.url("/new.xml"))).id
    feeds.set_feed("/new.xml", rss([FULL_NAME]))
    assert (await ingestor.poll(new)).queued == 0  # its first poll only learns
    feeds.set_feed("/herald.xml", rss([FULL_NAME]))
    assert (await ingestor.poll(herald)).queued == 1
    assert await _outbox(store) == [(GROUP, ["KIDA"])]


async def test_concurrent_polls_store_one_story(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    paths = [f"/f{n}.xml" for n in range(4)]
    for path in paths:
        feeds.set_feed(path, rss([]))
    sources = await _setup(store, feeds, *paths)
    await asyncio.gather(*(ingestor.poll(s) for s in sources))
    for n, path in enumerate(paths):
        feeds.set_feed(path, rss([{**FULL_NAME, "guid": f"copy-{n}"}]))
    reports = await asyncio.gather(*(ingestor.poll(s) for s in sources + sources))
    assert [r.error for r in reports] == [None] * 8
    assert sum(r.new_articles for r in reports) == 1
    assert await _outbox(store) == [(GROUP, ["KIDA"])]


async def test_a_chat_alias_matches_for_that_chat_only(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    feeds.set_feed("/a.xml", rss([]))
    [source] = await _setup(store, feeds, "/a.xml")
    async with store.transaction() as session:
        await queries.follow(session, OTHER, [make_tag("KIDA", ALIASES)])
    await actions.add_alias(store, GROUP, "KIDA = 국방연구원")
    await ingestor.poll(source)
    local = {"title": "국방연구원 보고서", "link": "https://ko.example/1", "description": "요약"}
    feeds.set_feed("/a.xml", rss([local]))
    assert (await ingestor.poll(source)).queued == 1
    assert await _outbox(store) == [(GROUP, ["KIDA"])]


async def test_definitions_seen_often_enough_become_aliases(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """Three articles from two hosts define KRISS; then the full name alone matches it."""
    feeds.set_feed("/a.xml", rss([]))
    feeds.set_feed("/b.xml", rss([]))
    a, _b = await _setup(store, feeds, "/a.xml", "/b.xml")
    async with store.transaction() as session:  # the same server under a second host name
        await queries.sync_operator_sources(
            session,
            [
                (feeds.url("/a.xml"), "a"),
                (feeds.url("/b.xml").replace("127.0.0.1", "localhost"), "b"),
            ],
        )
        b = (
            await queries.source_by_url(
                session, feeds.url("/b.xml").replace("127.0.0.1", "localhost")
            )
        ).id
        await queries.follow(session, GROUP, [make_tag("KRISS", ALIASES)])
    for source_id in (a, b):
        await ingestor.poll(source_id)

    def defining(n: int) -> dict:
        return {
            "title": f"Clock research {n}",
            "link": f"https://science.example/{n}",
            "description": "Scientists at the Korea Research Institute of Standards and "
            "Science (KRISS) built a new clock.",
        }

    full_name_only = {
        "title": "Time keeping",
        "link": "https://science.example/full",
        "description": "The Korea Research Institute of Standards and Science said on Monday.",
    }
    feeds.set_feed("/a.xml", rss([defining(1), defining(2)]))
    await ingestor.poll(a)
    feeds.set_feed("/b.xml", rss([defining(3)]))
    await ingestor.poll(b)
    assert len(await _outbox(store)) == 3  # each defining article names KRISS itself
    feeds.set_feed("/a.xml", rss([defining(1), defining(2), full_name_only]))
    assert (await ingestor.poll(a)).queued == 1
    async with store.transaction() as session:
        learned = await queries.learned_aliases(session)
    assert [(row.short, row.long) for row in learned] == [
        ("KRISS", "Korea Research Institute of Standards and Science")
    ]


async def test_a_chat_feed_failing_for_a_day_is_reported_once(
    store: Store, feeds: FeedServer
) -> None:
    feeds.set_feed("/down.xml", b"", status=503)
    await _setup(store, feeds)
    async with store.transaction() as session:
        await queries.add_chat_source(session, OTHER, feeds.url("/down.xml"), "Down feed")
        source_id = (await queries.source_by_url(session, feeds.url("/down.xml"))).id
    notices: list[tuple[int, str]] = []

    async def notify(chat_id: int, source: Source) -> bool:
        notices.append((chat_id, source.last_error or ""))
        return True

    async with Fetcher(allow_private_networks=True) as fetcher:
        ingestor = Ingestor(store, fetcher, IndexCache(store, Vocabulary(store, ALIASES)), notify)
        await ingestor.poll(source_id)
        assert notices == []  # one failure is not a day of failures
        async with store.transaction() as session:
            row = await session.get(Source, source_id)
            row.failing_since = row.failing_since - timedelta(hours=25)
        await ingestor.poll(source_id)
        await ingestor.poll(source_id)
        assert [chat for chat, _ in notices] == [OTHER] and "503" in notices[0][1]
        feeds.set_feed("/down.xml", rss([]))
        await ingestor.poll(source_id)
    async with store.transaction() as session:
        row = await session.get(Source, source_id)
        assert (row.failures, row.failing_since, row.failure_reported) == (0, None, False)


def _tag_page(*cards: tuple[str, str]) -> str:
    """A site's tag page with no feed: headline links in repeated cards, like the seed page."""
    items = "".join(
        f'<div class="card"><a href="{link}"><h2>{title}</h2></a>'
        '<time datetime="2025-06-29T09:12:00+09:00">5 days ago</time></div>'
        for title, link in cards
    )
    return (
        "<html><body><nav><a href='/'>Home</a><a href='/about'>About</a></nav>"
        f"<h1>Latest news with #KoreaInstituteforDefenseAnalyses</h1>{items}</body></html>"
    )


async def test_a_page_without_a_feed_is_polled_as_a_list_of_articles(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    old = (
        "Seoul should bolster diplomatic ties with Moscow to deter threats",
        "/news/seoul-moscow",
    )
    new = ("Korea Institute for Defense Analyses warns of new missile tests", "/news/kida-missiles")
    other = ("Will NATO's new spending target be a boon to defense exports?", "/news/nato")
    html = "text/html; charset=utf-8"
    feeds.set_feed("/tag/kida", _tag_page(old, other), content_type=html)
    [source] = await _setup(store, feeds, "/tag/kida")
    first = await ingestor.poll(source)
    assert (first.error, first.items) == (None, 2)
    feeds.set_feed("/tag/kida", _tag_page(new, old, other), content_type=html)
    assert (await ingestor.poll(source)).queued == 1
    assert await _outbox(store) == [(GROUP, ["KIDA"])]


class _Writes:
    """Records the sources of each transaction's batch; the first waits until `hold` polls
    are waiting behind it, so that those are written together, deterministically (the
    writer's own wait for polls still reading is `linger`). A batch
    of a source in `fail_for` cannot be stored; the first batch of `hang_at` sources hangs
    (until cancelled) in the task `hung`."""

    def __init__(
        self,
        ingestor: Ingestor,
        monkeypatch: pytest.MonkeyPatch,
        hold: int,
        hang_at: int = 0,
        linger: float = 0,
    ) -> None:
        monkeypatch.setattr(ingest._Reading, "LINGER", linger)  # 0: the writer waits for none
        self.batches: list[list[int]] = []
        self.fail_for: set[int] = set()
        self.hung: asyncio.Task | None = None
        reading, inserting = queries.sources_by_id, queries.insert_articles

        async def sources_by_id(session, ids):
            ids = sorted(ids)
            self.batches.append(ids)
            if len(self.batches) == 1:
                async with asyncio.timeout(10):
                    while len(ingestor._pending) < hold:
                        await asyncio.sleep(0.01)
            if len(ids) == hang_at and self.hung is None:
                self.hung = asyncio.current_task()
                await asyncio.Event().wait()
            return await reading(session, ids)

        async def insert_articles(session, stories, now):
            if {story.source_id for story in stories} & self.fail_for:
                raise OperationalError("INSERT", {}, Exception("disk I/O error"))
            return await inserting(session, stories, now)

        monkeypatch.setattr(queries, "sources_by_id", sources_by_id)
        monkeypatch.setattr(queries, "insert_articles", insert_articles)


async def _four_feeds(store: Store, feeds: FeedServer, ingestor: Ingestor) -> list[int]:
    """Four primed feeds; the second and third then carry the same new story."""
    paths = [f"/f{n}.xml" for n in range(4)]
    for path in paths:
        feeds.set_feed(path, rss([]))
    sources = await _setup(store, feeds, *paths)
    for source in sources:
        await ingestor.poll(source)
    stories = [
        {**FULL_NAME, "link": f"https://herald.example/{n}", "guid": f"g{n}"} for n in range(4)
    ]
    stories[2] = {**stories[1], "guid": "another-guid"}  # the same story, another feed
    for path, story in zip(paths, stories, strict=True):
        feeds.set_feed(path, rss([story]))
    return sources


async def test_polls_finishing_together_are_stored_in_one_transaction(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = await _four_feeds(store, feeds, ingestor)
    writes = _Writes(ingestor, monkeypatch, hold=3)
    reports = await asyncio.gather(*(ingestor.poll(s) for s in sources))
    assert [r.error for r in reports] == [None] * 4
    # The first poll to finish wrote alone; the three that finished meanwhile, together.
    assert [len(batch) for batch in writes.batches] == [1, 3]
    # The story on two feeds is stored once, and alerts once, whichever feed was first.
    assert sorted(r.new_articles for r in reports[1:3]) == [0, 1]
    assert (sum(r.new_articles for r in reports), sum(r.queued for r in reports)) == (3, 3)
    assert await _outbox(store) == [(GROUP, ["KIDA"])] * 3


async def test_the_writer_waits_a_moment_for_polls_still_reading(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = await _four_feeds(store, feeds, ingestor)
    writes = _Writes(ingestor, monkeypatch, hold=0, linger=30)  # long enough on any machine
    reports = await asyncio.gather(*(ingestor.poll(s) for s in sources))
    assert [r.error for r in reports] == [None] * 4
    assert [len(batch) for batch in writes.batches] == [4]  # it did not wait out LINGER


async def test_a_feed_that_cannot_be_stored_fails_alone(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = await _four_feeds(store, feeds, ingestor)
    writes = _Writes(ingestor, monkeypatch, hold=3)
    writes.fail_for = {sources[3]}
    reports = await asyncio.gather(*(ingestor.poll(s) for s in sources))
    assert [bool(r.error) for r in reports] == [False, False, False, True]
    assert "could not store the items (OperationalError)" in reports[3].error
    assert sum(r.new_articles for r in reports) == 2
    async with store.transaction() as session:
        assert (await session.get(Source, sources[3])).last_error == reports[3].error
        assert (await session.get(Source, sources[1])).last_error is None


async def test_a_cancelled_poll_leaves_the_others_it_was_writing_to_be_written(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = await _four_feeds(store, feeds, ingestor)
    writes = _Writes(ingestor, monkeypatch, hold=2, hang_at=2)
    polls = [asyncio.create_task(ingestor.poll(s)) for s in (sources[0], sources[1], sources[3])]
    async with asyncio.timeout(10):
        while writes.hung is None:
            await asyncio.sleep(0.01)
    writes.hung.cancel()  # the poll writing the second batch, its own and another's
    reports = await asyncio.gather(*(task for task in polls if task is not writes.hung))
    assert [r.error for r in reports] == [None, None]
    assert len(await _outbox(store)) == 3  # the cancelled poll's story was stored too


async def _in_one_batch(ingestor: Ingestor, sources: list[int]) -> list[PollReport]:
    """Poll `sources` so that all their jobs are written in one batch: the writer is held
    until every poll has queued its job."""
    await ingestor._writing.acquire()
    try:
        tasks = [asyncio.create_task(ingestor.poll(s)) for s in sources]
        async with asyncio.timeout(10):
            while len(ingestor._pending) < len(sources):
                await asyncio.sleep(0.01)
    finally:
        ingestor._writing.release()
    return await asyncio.gather(*tasks)


async def test_each_feed_of_a_batch_counts_the_alerts_it_queued(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two chats' own feeds carry one new story: each queues its own chat's alert."""
    monkeypatch.setattr(ingest._Reading, "LINGER", 0)
    feeds.set_feed("/g.xml", rss([]))
    feeds.set_feed("/o.xml", rss([]))
    await _setup(store, feeds)
    async with store.transaction() as session:
        await queries.follow(session, OTHER, [make_tag("KIDA", ALIASES)])
        await queries.add_chat_source(session, GROUP, feeds.url("/g.xml"), "Gazette")
        await queries.add_chat_source(session, OTHER, feeds.url("/o.xml"), "Observer")
        sources = [
            (await queries.source_by_url(session, feeds.url(p))).id for p in ("/g.xml", "/o.xml")
        ]
    for source in sources:
        await ingestor.poll(source)
    feeds.set_feed("/g.xml", rss([FULL_NAME]))
    feeds.set_feed("/o.xml", rss([{**FULL_NAME, "guid": "observer-7"}]))  # the same story
    ingestor.wake.clear()
    reports = await _in_one_batch(ingestor, sources)
    # Whichever feed the batch has first stores the story; each counts its own alert.
    assert sorted((r.new_articles, r.queued) for r in reports) == [(0, 1), (1, 1)]
    assert sorted(await _outbox(store)) == [(OTHER, ["KIDA"]), (GROUP, ["KIDA"])]
    assert ingestor.wake.is_set()


async def test_the_writer_does_not_wait_for_a_poll_queued_behind_its_own_source(
    store: Store, feeds: FeedServer, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second poll of a source waits for the first, so it can never join its batch."""
    monkeypatch.setattr(ingest._Reading, "LINGER", 3600)  # were it waited for, it would show
    feeds.set_feed("/a.xml", rss([FULL_NAME]), etag=None)
    [source] = await _setup(store, feeds, "/a.xml")
    first = asyncio.create_task(ingestor.poll(source))
    second = asyncio.create_task(ingestor.poll(source))
    async with asyncio.timeout(30):
        assert (await first).new_articles == 1
        assert (await second).error is None
