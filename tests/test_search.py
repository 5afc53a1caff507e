"""News search per tag: one shared search feed per followed tag, its copies deduplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from bot import actions
from bot.core.aliases import AliasTable
from bot.core.dedup import headline_key
from bot.core.tags import make_tag
from bot.ingest import Ingestor
from bot.search import search_query, search_urls
from bot.store import queries
from bot.store.db import Store
from tests.fakes.feed_server import FeedServer, rss

ALIASES = AliasTable.load()
CHAT = 777


def test_the_query_asks_for_any_name_of_the_tag() -> None:
    [url] = search_urls(["https://s.example/rss?q={query}&hl=en"], make_tag("KIDA", ALIASES))
    query = parse_qs(urlsplit(url).query)["q"][0]
    assert query == '"kida" OR "korea institute for defense analyses" OR "한국국방연구원"'
    [url] = search_urls(["https://s.example/?q={query}"], make_tag("K2 tank -toy", ALIASES))
    assert parse_qs(urlsplit(url).query)["q"][0] == '"k2 tank" -"toy"'
    assert search_query(['He said "no"', ""]) == '"He said  no"'
    assert search_urls(["https://no-placeholder.example/"], make_tag("x", ALIASES)) == []


def test_a_search_feeds_publisher_suffix_is_not_part_of_the_headline() -> None:
    headline = "Seoul should bolster diplomatic ties with Moscow to deter threats"
    assert headline_key(headline + " - Korea Herald", from_search=True) == headline_key(headline)
    assert headline_key("Live updates") is None


async def test_following_a_tag_polls_its_search_feed_and_a_copy_is_one_story(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    template = feeds.url("/search") + "?q={query}"
    async with store.transaction() as session:
        await queries.touch_chat(session, CHAT, "private", None)
        await queries.sync_operator_sources(session, [(feeds.url("/herald.xml"), "Herald")])
    feeds.set_feed("/herald.xml", rss([]))
    await actions.follow(store, CHAT, "KIDA", ALIASES, search_templates=[template])
    [url] = search_urls([template], make_tag("KIDA", ALIASES))
    path = url.removeprefix(feeds.url(""))
    feeds.set_feed(path, rss([]))
    async with store.transaction() as session:
        now = datetime.now(UTC)
        due = [s.id for s in await queries.lease_due_sources(session, now, now, 10)]
        search = await queries.source_by_url(session, url)
    assert search is not None and search.search_tag_key == "kida" and search.id in due
    for source_id in due:
        await ingestor.poll(source_id)  # the first polls only learn

    story = {
        "title": "Seoul should bolster diplomatic ties with Moscow, KIDA says",
        "link": "https://www.koreaherald.com/view.php?ud=1",
        "description": "KIDA report.",
    }
    copy = {
        **story,
        "title": story["title"] + " - The Korea Herald",
        "link": "https://news.google.com/rss/articles/CBMi123",
    }
    feeds.set_feed("/herald.xml", rss([story]))
    feeds.set_feed(path, rss([copy]))
    queued = [(await ingestor.poll(source_id)).queued for source_id in due]
    assert sorted(queued) == [0, 1]

    await actions.unfollow(store, CHAT, "KIDA", ALIASES)
    async with store.transaction() as session:
        later = datetime.now(UTC) + timedelta(hours=1)
        leased = await queries.lease_due_sources(session, later, later, 10)
        assert search.id not in [s.id for s in leased]
