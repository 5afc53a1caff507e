"""JSON columns (orjson, see bot/store/db.py) take and give back what a feed's JSON may
hold, lone surrogates included, and rows the stdlib wrote before orjson still read."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text

from bot.core.aliases import AliasTable
from bot.ingest import IndexCache, Ingestor
from bot.sources.fetch import Fetcher
from bot.store import queries
from bot.store.db import Store
from bot.store.models import utcnow
from bot.vocabulary import Vocabulary
from tests.fakes.feed_server import FeedServer, rss
from tests.test_ingest import FULL_NAME, GROUP, _outbox, _setup


async def test_a_json_feed_tag_with_a_lone_surrogate_does_not_stop_the_feed(
    store: Store, feeds: FeedServer, ingestor: Ingestor
) -> None:
    """json.loads makes lone surrogates from "\\ud800"; json.dumps wrote them as escapes,
    orjson refuses them, so an Article whose categories hold one can no longer be stored:
    the whole feed fails at every poll and its other stories never alert."""

    def feed(*items: dict) -> str:
        return json.dumps(
            {"version": "https://jsonfeed.org/version/1.1", "title": "Herald", "items": list(items)}
        )

    feeds.set_feed("/feed.json", feed(), content_type="application/feed+json")
    [source] = await _setup(store, feeds, "/feed.json")
    assert (await ingestor.poll(source)).error is None  # primed, empty
    story = {
        "id": "1",
        "url": "https://herald.example/kida",
        "title": "Korea Institute for Defense Analyses warns of missile tests",
        "tags": ["defense\ud800"],  # json.dumps writes it as the escape \ud800
    }
    feeds.set_feed("/feed.json", feed(story), content_type="application/feed+json")
    report = await ingestor.poll(source)
    assert report.error is None, report.error
    assert (report.new_articles, report.queued) == (1, 1)
    assert await _outbox(store) == [(GROUP, ["KIDA"])]


async def test_rows_written_before_the_upgrade_still_deliver(
    store: Store, feeds: FeedServer
) -> None:
    """Before orjson, json.dumps stored a category holding a lone surrogate as the escape
    \\ud800, which both databases accept. orjson.loads refuses to read it back, and the
    sender's one query for due alerts (`queries.due_deliveries`) loads every due alert's
    Article: one such row stops every chat's alerts, not just its own."""
    options: dict = {"json_serializer": json.dumps, "json_deserializer": json.loads}
    if store.dialect == "postgresql":
        async with store.transaction() as session:
            schema = await session.scalar(text("SHOW search_path"))
        options["connect_args"] = {"server_settings": {"search_path": schema}}
    before = Store(store.url, **options)  # the store as the previous release wrote it
    try:

        def feed(*items: dict) -> str:
            version = "https://jsonfeed.org/version/1.1"
            return json.dumps({"version": version, "title": "Herald", "items": list(items)})

        feeds.set_feed("/feed.json", feed(), content_type="application/feed+json")
        feeds.set_feed("/b.xml", rss([]))
        sources = await _setup(before, feeds, "/feed.json", "/b.xml")
        async with Fetcher(allow_private_networks=True) as fetcher:
            vocabulary = Vocabulary(before, AliasTable.load())
            old = Ingestor(before, fetcher, IndexCache(before, vocabulary))
            for source in sources:
                await old.poll(source)
            story = {
                "id": "1",
                "url": "https://herald.example/kida",
                "title": "Korea Institute for Defense Analyses warns of missile tests",
                "tags": ["defense\ud800"],
            }
            feeds.set_feed("/feed.json", feed(story), content_type="application/feed+json")
            assert (await old.poll(sources[0])).queued == 1
    finally:
        await before.close()
    async with Fetcher(allow_private_networks=True) as fetcher:  # after the upgrade
        new = Ingestor(store, fetcher, IndexCache(store, Vocabulary(store, AliasTable.load())))
        feeds.set_feed("/b.xml", rss([{**FULL_NAME, "link": "https://b.example/2", "guid": "b"}]))
        assert (await new.poll(sources[1])).queued == 1
    async with store.transaction() as session:
        due = await queries.due_deliveries(session, utcnow() + timedelta(hours=1), 50)
    assert len(due) == 2
