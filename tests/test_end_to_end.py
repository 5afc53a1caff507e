"""The whole road, as a person meets it: `newsbot run` against a Bot API emulator and feeds
served from 127.0.0.1, walking the example the project started from."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import SentMessage, TelegramEmulator

GROUP = -1001234567890
ADMIN, MEMBER = 111, 222

OLD = {
    "title": "Yesterday's defence budget debate",
    "link": "https://news.example/old",
    "guid": "https://news.example/old",
    "description": "KIDA analysts weighed in on last year's budget.",
}
FULL_NAME_ONLY = {
    "title": "Will NATO's new spending target be boon to S. Korea's defense exports?",
    "link": "https://www.koreaherald.com/view.php?ud=20250629000123",
    "guid": "koreaherald-20250629000123",
    "description": "South Korea has continuously built up its capabilities, said an analyst "
    "at the Korea Institute for Defense Analyses, who declined to be named.",
    "pub_date": datetime(2025, 6, 29, 9, 0, tzinfo=UTC),
}
ACRONYM = {
    "title": "Seoul should bolster diplomatic ties with Moscow to deter N. Korean threats",
    "link": "https://www.koreaherald.com/view.php?ud=20250416000456",
    "guid": "koreaherald-20250416000456",
    "description": "The report, written by senior KIDA researcher Park Yong-han, stressed ...",
    "pub_date": datetime(2025, 4, 16, 9, 30, tzinfo=UTC),
}
NATO_ONLY = {
    "title": "NATO members adopt a 5 percent spending target",
    "link": "https://news.example/nato-target",
    "guid": "https://news.example/nato-target",
    "description": "The alliance agreed to raise defense budgets by 2035.",
}
AFTER_UNFOLLOW = {
    "title": "KIDA publishes its annual security outlook",
    "link": "https://news.example/kida-outlook",
    "guid": "https://news.example/kida-outlook",
    "description": "The Korea Institute for Defense Analyses outlook ...",
}


def until(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Wait for a condition on state outside the emulator (the feed server, a process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TelegramEmulator, FeedServer, BotProcess]]:
    with TelegramEmulator() as telegram, FeedServer() as feeds:
        telegram.add_user(ADMIN, "Ada", username="ada")
        telegram.add_user(MEMBER, "Max", username="max")
        telegram.add_chat(
            GROUP, "supergroup", title="Defence desk", admins={ADMIN: "administrator"}
        )
        feeds.set_feed("/herald.xml", rss([OLD], title="Korea Herald"))
        feeds.set_feed("/aggregator.xml", rss([], title="Aggregator"))
        opml = tmp_path / "sources.opml"
        opml.write_text(
            '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
            f'<outline text="Korea Herald" xmlUrl="{feeds.url("/herald.xml")}"/>'
            f'<outline text="Aggregator" xmlUrl="{feeds.url("/aggregator.xml")}"/>'
            "</body></opml>"
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))},
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.root_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'newsbot.db'}",
            "SOURCES": str(opml),
            "POLL_INTERVAL": "1",
        }
        bot = BotProcess(env, tmp_path)
        try:
            yield telegram, feeds, bot
        finally:
            print(bot.tail())  # shown on failure
            bot.close()


def alerts(telegram: TelegramEmulator, link: str) -> list[SentMessage]:
    return [m for m in telegram.sent_messages(GROUP) if link in m.text]


def polled_twice_more(feeds: FeedServer, *paths: str) -> Callable[[], bool]:
    """True once every path was fetched twice more: one whole poll surely ran after now."""
    start = {path: feeds.request_count(path) for path in paths}
    return lambda: all(feeds.request_count(p) >= start[p] + 2 for p in paths)


def reply_to(telegram: TelegramEmulator, text: str, contains: str) -> SentMessage:
    before = len(telegram.sent_messages(GROUP))
    return telegram.wait_for(
        lambda: next(
            (m for m in telegram.sent_messages(GROUP)[before:] if contains in m.plain_text), None
        ),
        timeout=15,
        what=f"a reply to {text!r} containing {contains!r}",
    )


def test_follow_kida_in_a_group_end_to_end(
    world: tuple[TelegramEmulator, FeedServer, BotProcess],
) -> None:
    telegram, feeds, bot = world
    both = ("/herald.xml", "/aggregator.xml")
    bot.start()
    telegram.wait_for(lambda: telegram.calls_to("setMyCommands"), what="the command menu")
    until(polled_twice_more(feeds, *both), what="the first polls")  # sources primed

    # An admin follows; the reply says how the tag was understood. A member is refused.
    telegram.send_message(GROUP, "/follow KIDA", from_user=ADMIN)
    answer = reply_to(telegram, "/follow KIDA", "Korea Institute for Defense Analyses")
    assert "KIDA" in answer.plain_text
    telegram.send_message(GROUP, "/follow@newsbot_test_bot NATO", from_user=MEMBER)
    reply_to(telegram, "/follow NATO", "administrators")

    # Two matching stories and a NATO-only one arrive; the old item never alerts.
    feeds.set_feed(
        "/herald.xml", rss([OLD, FULL_NAME_ONLY, ACRONYM, NATO_ONLY], title="Korea Herald")
    )
    telegram.wait_for(
        lambda: alerts(telegram, FULL_NAME_ONLY["link"]) and alerts(telegram, ACRONYM["link"]),
        timeout=20,
        what="both KIDA alerts",
    )
    until(polled_twice_more(feeds, *both), what="polls after the alerts")
    alert = alerts(telegram, FULL_NAME_ONLY["link"])[0]
    assert alert.parse_mode == "HTML" and "#KIDA" in alert.plain_text
    assert "Korea Herald" in alert.plain_text
    # Why it matched: the alias used, and the matched words in bold in the snippet.
    assert "matched “Korea Institute for Defense Analyses”" in alert.plain_text
    assert "<b>Korea Institute for Defense Analyses</b>" in alert.text
    assert "<b>KIDA</b>" in alerts(telegram, ACRONYM["link"])[0].text

    # The same story through a second feed, with a tracking parameter and another guid.
    copy = {**ACRONYM, "link": ACRONYM["link"] + "&utm_source=rss", "guid": "aggregator-77"}
    feeds.set_feed("/aggregator.xml", rss([copy], title="Aggregator"))
    until(polled_twice_more(feeds, *both), what="the aggregator's polls")

    def exactly_once() -> None:
        for story in (FULL_NAME_ONLY, ACRONYM):
            assert len(alerts(telegram, story["link"])) == 1, story["title"]
        for story in (OLD, NATO_ONLY):
            assert alerts(telegram, story["link"]) == [], story["title"]

    exactly_once()

    # Restarts lose nothing and repeat nothing: clean stops (each within 10 s), then a crash.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        returncode = bot.stop(signum)
        if signum != signal.SIGKILL:
            assert returncode == 0, bot.logs()[-3000:]
        bot.start()
        until(polled_twice_more(feeds, *both), what="polls after a restart")
        exactly_once()

    # An anonymous administrator unfollows; a later KIDA story is not sent.
    telegram.send_anonymous_admin_message(GROUP, "/unfollow KIDA")
    reply_to(telegram, "/unfollow KIDA", "Stopped following")
    feeds.set_feed(
        "/herald.xml",
        rss([OLD, FULL_NAME_ONLY, ACRONYM, NATO_ONLY, AFTER_UNFOLLOW], title="Korea Herald"),
    )
    until(polled_twice_more(feeds, *both), what="polls after the unfollow")
    assert alerts(telegram, AFTER_UNFOLLOW["link"]) == []
    exactly_once()

    assert bot.stop(signal.SIGTERM) == 0
    secret = telegram.token.split(":")[1]
    assert secret not in bot.logs()
    for stored in bot.workdir.glob("newsbot.db*"):  # the database and its WAL
        assert secret.encode() not in stored.read_bytes(), stored.name


def _children(pid: int) -> set[int]:
    """The live processes `pid` started (Linux /proc), zombies left out."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with _suppress_gone():
            found.update(int(c) for c in (task / "children").read_text().split())
    return {child for child in found if _alive(child)}


def _poll_processes(pid: int) -> set[int]:
    """The children that are poll processes (spawned), not multiprocessing's helper."""
    found = set()
    for child in _children(pid):
        with _suppress_gone():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
    return found


def _alive(pid: int) -> bool:
    with _suppress_gone():
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _suppress_gone() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(FileNotFoundError, ProcessLookupError)


def test_poll_processes_share_the_feeds_alert_once_and_end_with_the_bot(
    world: tuple[TelegramEmulator, FeedServer, BotProcess], tmp_path: Path
) -> None:
    """POLL_PROCESSES=3: the bot starts two `newsbot poll` processes beside its own polling.
    A story carried by every feed is alerted once; every process polls; a stopped or
    killed bot leaves no poll process behind."""
    telegram, feeds, bot = world
    paths = [f"/wire{n}.xml" for n in range(12)]
    for path in paths:
        feeds.set_feed(path, rss([OLD], title=f"Wire {path}"))
    opml = tmp_path / "wires.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        + "".join(f'<outline text="Wire" xmlUrl="{feeds.url(p)}"/>' for p in paths)
        + "</body></opml>"
    )
    bot.env.update(SOURCES=str(opml), POLL_PROCESSES="3")
    bot.start()
    telegram.wait_for(lambda: telegram.calls_to("setMyCommands"), what="the command menu")
    until(polled_twice_more(feeds, *paths), what="the first polls")
    assert bot.process is not None
    for name in ("newsbot-poll-0", "newsbot-poll-1"):
        until(lambda n=name: f"[{n}] bot.app: polling" in bot.logs(), what=f"{name} to start")
    poll_processes = _poll_processes(bot.process.pid)
    assert len(poll_processes) == 2

    telegram.send_message(GROUP, "/follow KIDA", from_user=ADMIN)
    reply_to(telegram, "/follow KIDA", "Now following")
    own = [
        {
            **ACRONYM,
            "title": f"KIDA researchers brief wire desk number {n} on the Moscow report",
            "link": f"https://wire.example{path}",
            "guid": path,
        }
        for n, path in enumerate(paths)
    ]
    for path, story in zip(paths, own, strict=True):
        feeds.set_feed(path, rss([OLD, ACRONYM, story], title=f"Wire {path}"))
    telegram.wait_for(
        lambda: all(alerts(telegram, story["link"]) for story in [ACRONYM, *own]),
        timeout=30,
        what="every KIDA alert",
    )
    until(polled_twice_more(feeds, *paths), what="polls after the alerts")
    for story in [ACRONYM, *own]:
        assert len(alerts(telegram, story["link"])) == 1, story["link"]

    def polled_by_poll_processes() -> bool:
        return any("] bot.ingest: polled" in line for line in bot.logs().splitlines())

    # Whichever process ticks first after a source is due claims it; only changed feeds
    # are logged, so the feeds change until a poll process has logged one.
    for n in range(10):
        if polled_by_poll_processes():
            break
        update = {"title": f"Weather report {n}", "link": f"https://wire.example/weather{n}"}
        for path, story in zip(paths, own, strict=True):
            feeds.set_feed(path, rss([update, OLD, ACRONYM, story], title=f"Wire {path}"))
        until(polled_twice_more(feeds, *paths), what="polls of the changed feeds")
    assert polled_by_poll_processes(), bot.tail()

    assert bot.stop(signal.SIGTERM) == 0, bot.tail()
    until(lambda: not any(map(_alive, poll_processes)), what="the poll processes to end")
    assert telegram.token.split(":")[1] not in bot.logs()
    bot.start()  # and killed: its poll processes notice and end by themselves
    telegram.wait_for(lambda: len(telegram.calls_to("setMyCommands")) == 2, what="a restart")
    assert bot.process is not None
    until(lambda: len(_poll_processes(bot.process.pid)) == 2, what="the new poll processes")
    poll_processes = _poll_processes(bot.process.pid)
    bot.kill()
    until(lambda: not any(map(_alive, poll_processes)), what="orphaned poll processes to end")
