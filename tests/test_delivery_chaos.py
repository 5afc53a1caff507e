"""Delivery under fire, end to end: `newsbot run` against a Bot API emulator that keeps
Telegram's real limits, answers a share of sends with 429 and 500, and a bot that is killed
with SIGKILL mid-delivery. Every (chat, article) pair must arrive; none twice (or, across
kills, no more repeats than kills).

Both tests are slow by nature (Telegram lets a group receive 20 messages a minute): they wait
on conditions with generous timeouts and finish as soon as everything has arrived. Randomness
(fault rolls, kill moments) is seeded.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import RateLimits, SentMessage, TelegramEmulator

ADMIN = 111
PRIVATE = [5001 + n for n in range(20)]  # a private chat's id is its user's id
GROUPS = [-1001000000001 - n for n in range(5)]
CHATS = PRIVATE + GROUPS
FEED = "/wire.xml"
LINK_PREFIX = "https://news.example/kida/"
OLD = {
    "title": "KIDA's outlook from last year",
    "link": "https://news.example/old",
    "guid": "https://news.example/old",
    "description": "Already in the feed before anyone followed.",
}
CHAOS_SEED = 20250416
CRASH_SEED = 20250629


def articles(count: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"KIDA analysis no. {n}: deterrence and the budget",
            "link": f"{LINK_PREFIX}{n}",
            "guid": f"kida-{n}",
            "description": f"Researchers at KIDA published note {n} on defence spending.",
        }
        for n in range(count)
    ]


# -- observing what arrived -------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def article_links(message: SentMessage) -> set[str]:
    """The article links a message carries: each `<a href>` once (a digest lists several).

    A message sent as plain text (after Telegram refused its HTML) carries no `<a>`, so the
    visible text is searched too.
    """
    parser = _Links()
    parser.feed(message.text)
    parser.close()
    links = {href for href in parser.hrefs if href.startswith(LINK_PREFIX)}
    if message.parse_mode is None:
        links |= {word for word in message.text.split() if word.startswith(LINK_PREFIX)}
    return links


@dataclass
class Tally:
    """(chat, link) pairs received so far, read incrementally from the emulator."""

    telegram: TelegramEmulator
    counts: Counter[tuple[int, str]] = field(default_factory=Counter)
    seen: int = 0  # messages read so far
    alerts: int = 0  # of which carried at least one article link
    repeated: list[tuple[int, SentMessage]] = field(default_factory=list)  # (index, message)

    def update(self) -> Counter[tuple[int, str]]:
        new = self.telegram.sent_messages()[self.seen :]
        self.seen += len(new)
        for index, message in enumerate(new, start=self.seen - len(new)):
            pairs = [(message.chat_id, link) for link in article_links(message)]
            self.alerts += bool(pairs)
            if any(pair in self.counts for pair in pairs):
                self.repeated.append((index, message))
            self.counts.update(pairs)
        return self.counts

    def missing(self, expected: set[tuple[int, str]]) -> set[tuple[int, str]]:
        self.update()
        return expected - set(self.counts)

    def repeats(self) -> dict[tuple[int, str], int]:
        self.update()
        return {pair: n for pair, n in self.counts.items() if n > 1}


def unsent_alerts(database: Path) -> int:
    """Outbox rows not yet marked sent, read next to the running bot (SQLite in WAL mode)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0])


def recorded_pairs(database: Path) -> set[tuple[int, str]]:
    """(chat, link) of every alert the outbox records as sent (read while the bot is down)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        rows = db.execute(
            "SELECT o.chat_id, a.link FROM outbox o JOIN articles a ON a.id = o.article_id "
            "WHERE o.sent_at IS NOT NULL"
        )
        return {(int(chat_id), str(link)) for chat_id, link in rows}


def until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> None:
    """Wait for a condition on state outside the emulator (the feed server, the database)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def wait_while_alive(
    world: World, condition: Callable[[], object], timeout: float, what: str
) -> None:
    """Wait on the emulator for `condition`, failing at once if the bot process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            world.telegram.wait_for(condition, timeout=min(5.0, timeout), what=what)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        finally:
            if not world.bot.alive():
                raise AssertionError(f"newsbot exited while waiting for {what}")


def polled_twice_more(feeds: FeedServer) -> Callable[[], bool]:
    """True once the feed was fetched twice more: one whole poll surely ran after now."""
    start = feeds.request_count(FEED)
    return lambda: feeds.request_count(FEED) >= start + 2


# -- the bot as a process -----------------------------------------------------------------------


@dataclass
class World:
    telegram: TelegramEmulator
    feeds: FeedServer
    bot: BotProcess
    database: Path


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    with TelegramEmulator() as telegram, FeedServer() as feeds:
        telegram.add_user(ADMIN, "Ada", username="ada")
        for user_id in PRIVATE:
            telegram.add_user(user_id, f"Reader{user_id}")
            telegram.add_chat(user_id, "private")
        for n, chat_id in enumerate(GROUPS):
            telegram.add_chat(
                chat_id, "supergroup", title=f"Desk {n}", admins={ADMIN: "administrator"}
            )
        telegram.enforce_limits(RateLimits())  # Telegram's real numbers
        feeds.set_feed(FEED, rss([OLD], title="Defence Wire"))
        opml = tmp_path / "sources.opml"
        opml.write_text(
            '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
            f'<outline text="Defence Wire" xmlUrl="{feeds.url(FEED)}"/>'
            "</body></opml>"
        )
        database = tmp_path / "newsbot.db"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))},
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.root_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "SOURCES": str(opml),
            "POLL_INTERVAL": "1",
            "SEARCH_FEEDS": "",  # offline: no news search feeds on the internet
        }
        bot = BotProcess(env, tmp_path)
        failed_before = request.session.testsfailed
        try:
            yield World(telegram, feeds, bot, database)
        finally:
            bot.close()
            if request.session.testsfailed > failed_before:  # the call failed: show why
                print(f"\n--- newsbot log tail ---\n{bot.tail()}")


def follow_everywhere(world: World) -> None:
    """Start the bot, let it prime the feed, and have every chat follow KIDA."""
    telegram, feeds, bot = world.telegram, world.feeds, world.bot
    bot.start()
    telegram.wait_for(
        lambda: telegram.calls_to("setMyCommands"), timeout=60, what="the bot to start"
    )
    until(polled_twice_more(feeds), timeout=60, what="the first polls")  # the feed is primed
    for chat_id in PRIVATE:
        telegram.send_message(chat_id, "/follow KIDA")
    for chat_id in GROUPS:
        telegram.send_message(chat_id, "/follow KIDA", from_user=ADMIN)
    telegram.wait_for(
        lambda: all(telegram.sent_messages(chat_id) for chat_id in CHATS),
        timeout=60,
        what="a reply to /follow in every chat",
    )
    for chat_id in CHATS:
        assert "KIDA" in telegram.sent_messages(chat_id)[0].plain_text
    until(polled_twice_more(feeds), timeout=60, what="polls after the follows")


def deliver_all(
    world: World, tally: Tally, expected: set[tuple[int, str]], timeout: float
) -> float:
    """Wait until every pair arrived and the outbox is empty; returns the seconds it took."""
    started = time.monotonic()
    try:
        wait_while_alive(
            world,
            lambda: not tally.missing(expected),
            timeout=timeout,
            what=f"all {len(expected)} (chat, article) pairs",
        )
    except AssertionError:
        missing = tally.missing(expected)
        print(f"\n{len(missing)} pairs missing, e.g. {sorted(missing)[:5]}")
        raise
    delivered = time.monotonic() - started
    # Every pair arrived; once the outbox is empty nothing more can be sent.
    until(lambda: unsent_alerts(world.database) == 0, timeout=60, what="an empty outbox")
    return delivered


def test_every_alert_arrives_once_through_429s_500s_and_real_limits(world: World) -> None:
    telegram, feeds, bot = world.telegram, world.feeds, world.bot
    follow_everywhere(world)
    telegram.fail_randomly("sendMessage", {429: 0.2, 500: 0.1}, seed=CHAOS_SEED)

    stories = articles(60)
    expected = {(chat_id, story["link"]) for chat_id in CHATS for story in stories}
    tally = Tally(telegram)
    tally.update()  # the replies to /follow carry no article link
    feeds.set_feed(FEED, rss([OLD, *stories], title="Defence Wire"))
    seconds = deliver_all(world, tally, expected, timeout=600)

    attempts = len(telegram.calls_to("sendMessage"))
    print(
        f"\nchaos: {len(expected)} pairs to {len(CHATS)} chats in {seconds:.0f} s; "
        f"{tally.alerts} messages, {attempts} sendMessage calls, "
        f"violations: {len(telegram.violations)}"
    )
    assert tally.repeats() == {}
    assert set(tally.counts) == expected
    assert telegram.violations == []
    assert bot.stop() == 0, bot.tail()


def test_sigkill_during_delivery_loses_nothing(world: World) -> None:
    """Three kills at seeded moments, each right after Telegram accepted a message: every
    pair arrives, and only the message in flight when the bot died (accepted by Telegram,
    not yet recorded as sent) is sent again. The sender keeps at most one message in
    flight, so there are no more repeats than kills. A repeated digest repeats every link
    it lists, so repeats are counted in messages (and reported in pairs too).
    """
    telegram, feeds, bot = world.telegram, world.feeds, world.bot
    follow_everywhere(world)

    stories = articles(60)
    expected = {(chat_id, story["link"]) for chat_id in CHATS for story in stories}
    kills = sorted(random.Random(CRASH_SEED).sample(range(25, len(expected) - 100), 3))
    tally = Tally(telegram)
    tally.update()
    started = time.monotonic()
    feeds.set_feed(FEED, rss([OLD, *stories], title="Defence Wire"))
    in_flight: list[list[tuple[int, frozenset[str]]]] = []  # per kill: (chat, links) unrecorded
    for received in kills:
        wait_while_alive(
            world,
            lambda n=received: len(tally.update()) >= n,
            timeout=300,
            what=f"{received} pairs before a kill",
        )
        bot.kill()
        recorded = recorded_pairs(world.database)
        accepted = [(m.chat_id, article_links(m)) for m in telegram.sent_messages()]
        # Accepted, not recorded, and not already in flight at an earlier kill: a message
        # in flight then may still wait for its resend (its chat held after a 429, say).
        earlier = {message for kill in in_flight for message in kill}
        in_flight.append(
            [
                (chat_id, frozenset(links))
                for chat_id, links in accepted
                if any((chat_id, link) not in recorded for link in links)
                and (chat_id, frozenset(links)) not in earlier
            ]
        )
        at = time.monotonic() - started
        print(
            f"\nkilled after {len(tally.update())} of {len(expected)} pairs ({at:.1f} s); "
            f"in flight: {[chat_id for chat_id, _ in in_flight[-1]]}"
        )
        bot.start()
    deliver_all(world, tally, expected, timeout=600)
    seconds = time.monotonic() - started

    repeated = [(m.chat_id, frozenset(article_links(m))) for _, m in tally.repeated]
    flying = [message for messages in in_flight for message in messages]
    print(
        f"crashes: {len(expected)} pairs to {len(CHATS)} chats in {seconds:.0f} s "
        f"({tally.alerts} messages) with {len(kills)} kills; in flight at the kills: "
        f"{len(flying)}; repeated messages: {len(repeated)} "
        f"{[(i, m.chat_id) for i, m in tally.repeated]}; repeated pairs: "
        f"{sum(n - 1 for n in tally.repeats().values())}; limit violations: "
        f"{len(telegram.violations)} {telegram.violations[:5]}"
    )
    assert set(tally.counts) == expected  # nothing lost
    assert all(len(kill) <= 1 for kill in in_flight), in_flight  # one message in flight
    for chat_id, links in repeated:  # only what was in flight is repeated
        assert any(c == chat_id and links <= sent for c, sent in flying), (chat_id, links)
    assert len(repeated) <= len(kills)
    assert bot.stop() == 0, bot.tail()
