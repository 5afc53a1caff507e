""" "Also reported by": a story's alert names the other outlets that carried it, once each.

The story is alerted once, from whichever feed had it first; a copy from another outlet
adds that outlet to the alert, in its text if it was not sent yet, by an edit if it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from telegram import Bot

from bot import actions
from bot.core.aliases import AliasTable
from bot.core.dedup import outlet_name, same_outlet, search_publisher
from bot.delivery.limits import Limits, Pacer
from bot.delivery.sender import Sender
from bot.ingest import Ingestor
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Coverage, Delivery
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import TelegramEmulator
from tests.outbox import make_due

ALIASES = AliasTable.load()
GROUP = -100200300
FAST = Limits(per_chat_interval=1e-6, per_group_interval=1e-6, global_per_second=1e6)
STORY = {
    "title": "Seoul should bolster diplomatic ties with Moscow, KIDA says",
    "link": "https://www.koreaherald.com/view.php?ud=1",
    "description": "A KIDA report.",
}
OUTLETS = {"/herald.xml": "Korea Herald", "/yonhap.xml": "Yonhap", "/times.xml": "Korea Times"}


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        emulator.add_chat(GROUP, "supergroup", title="Desk")
        yield emulator


@pytest.fixture
async def sender(store: Store, telegram: TelegramEmulator) -> AsyncIterator[Sender]:
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        yield Sender(store, bot, pacer=Pacer(FAST))


@dataclass
class Desk:
    """Three outlets' feeds, primed empty, and a group that follows KIDA."""

    store: Store
    feeds: FeedServer
    ingestor: Ingestor
    sources: dict[str, int]  # feed path -> source id

    async def publish(self, path: str, **changes: str) -> int:
        """The story appears on one outlet's feed (with `changes`); the alerts queued."""
        self.feeds.set_feed(path, rss([{**STORY, **changes}]))
        return (await self.ingestor.poll(self.sources[path])).queued


@pytest.fixture
async def desk(store: Store, feeds: FeedServer, ingestor: Ingestor) -> Desk:
    async with store.transaction() as session:
        await queries.touch_chat(session, GROUP, "supergroup", "Desk")
        await queries.sync_operator_sources(
            session, [(feeds.url(path), title) for path, title in OUTLETS.items()]
        )
        ids = {path: (await queries.source_by_url(session, feeds.url(path))).id for path in OUTLETS}
    await actions.follow(store, GROUP, "KIDA", ALIASES)
    for path, source_id in ids.items():
        feeds.set_feed(path, rss([]))
        await ingestor.poll(source_id)
    return Desk(store, feeds, ingestor, ids)


def test_a_search_feed_names_the_outlet_after_the_headline() -> None:
    assert search_publisher("Seoul, Moscow talk - The Korea Herald") == "The Korea Herald"
    assert search_publisher("Seoul, Moscow talk \u2013 연합뉴스") == "연합뉴스"
    assert search_publisher("Seoul, Moscow talk") is None
    assert outlet_name("News search: KIDA", "Talks - Yonhap", from_search=True) == "Yonhap"
    assert outlet_name("News search: KIDA", "Talks", from_search=True) == "News search: KIDA"
    assert outlet_name("Yonhap", "Talks - Reuters", from_search=False) == "Yonhap"


def test_one_outlet_under_two_names_is_one_outlet() -> None:
    assert same_outlet("The Korea Herald", "Korea Herald")
    assert same_outlet("Korea Herald", "The Korea Herald - National")
    assert not same_outlet("Korea Times", "Korea Herald")
    assert not same_outlet("Herald", "The Heraldry Gazette")
    assert not same_outlet("", "Korea Herald")


async def test_a_sent_alert_is_edited_once_to_name_another_outlet(
    desk: Desk, sender: Sender, telegram: TelegramEmulator
) -> None:
    assert await desk.publish("/herald.xml") == 1
    assert await sender.drain_once() == 1
    [alert] = telegram.sent_messages(GROUP)
    assert "Also reported by" not in alert.plain_text

    # The same story from Yonhap, under its own link but the same headline: no new alert.
    yonhap_link = "https://en.yna.co.kr/view/AEN1"
    assert await desk.publish("/yonhap.xml", link=yonhap_link) == 0
    assert await sender.drain_once() == 0  # the edit waits a minute for more outlets
    await make_due(desk.store)
    assert await sender.drain_once() == 1
    edited = telegram.message(GROUP, alert.message_id)
    assert "Also reported by Yonhap" in edited["text"]
    assert edited["reply_markup"] == alert.reply_markup  # the buttons stay
    assert len(telegram.sent_messages(GROUP)) == 1

    # Polled again, Yonhap is not news; a third outlet is, and both are named.
    assert await desk.publish("/yonhap.xml", link=yonhap_link) == 0
    await make_due(desk.store)
    assert await sender.drain_once() == 0
    assert await desk.publish("/times.xml", link="https://kt.example/1") == 0
    await make_due(desk.store)
    assert await sender.drain_once() == 1
    edited = telegram.message(GROUP, alert.message_id)
    assert "Also reported by Yonhap and Korea Times" in edited["text"]
    assert len(telegram.calls_to("editMessageText")) == 2


async def test_an_alert_not_sent_yet_names_the_other_outlets_at_once(
    desk: Desk, sender: Sender, telegram: TelegramEmulator
) -> None:
    assert await desk.publish("/herald.xml") == 1
    await desk.publish("/yonhap.xml", link="https://en.yna.co.kr/view/1")
    assert await sender.drain_once() == 1
    [alert] = telegram.sent_messages(GROUP)
    assert "Korea Herald" in alert.plain_text and "Also reported by Yonhap" in alert.plain_text
    await make_due(desk.store)
    assert await sender.drain_once() == 0
    assert telegram.calls_to("editMessageText") == []


async def test_a_search_copy_adds_the_outlet_it_names_unless_it_is_the_first(
    desk: Desk,
) -> None:
    store, feeds, ingestor = desk.store, desk.feeds, desk.ingestor
    template = feeds.url("/search") + "?q={query}"
    async with store.transaction() as session:
        await queries.touch_chat(session, 42, "private", None)
    await actions.follow(store, 42, "KIDA", ALIASES, search_templates=[template])
    async with store.transaction() as session:
        [search] = [s for s in await queries.all_sources(session) if s.added_by == "search"]
    path = search.url.removeprefix(feeds.url(""))
    feeds.set_feed(path, rss([]))
    await ingestor.poll(search.id)
    await desk.publish("/herald.xml")

    copies = [
        {**STORY, "title": STORY["title"] + " - The Korea Herald", "link": "https://g.example/1"},
        {**STORY, "title": STORY["title"] + " - NK News", "link": "https://g.example/2"},
        {**STORY, "title": STORY["title"], "link": "https://g.example/3"},  # names no outlet
    ]
    feeds.set_feed(path, rss(copies))
    assert (await ingestor.poll(search.id)).queued == 0
    async with store.transaction() as session:
        rows = (await session.execute(select(Coverage.publisher, Coverage.link))).all()
    assert rows == [("NK News", "https://g.example/2")]


async def test_an_alert_that_can_no_longer_be_edited_is_left_as_it_is(
    desk: Desk, sender: Sender, telegram: TelegramEmulator
) -> None:
    await desk.publish("/herald.xml")
    await sender.drain_once()
    await desk.publish("/yonhap.xml", link="https://en.yna.co.kr/view/1")
    await make_due(desk.store)
    telegram.fail_next("editMessageText", 429, retry_after=5)
    assert await sender.drain_once() == 0  # Telegram asked to wait: tried again later
    await make_due(desk.store)
    telegram.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    assert await sender.drain_once() == 0
    await make_due(desk.store)
    assert await sender.drain_once() == 0  # given up: nothing more to try
    assert len(telegram.calls_to("editMessageText")) == 2
    async with desk.store.transaction() as session:
        assert not await session.scalar(select(Delivery.revise))
