"""How fast alerts leave: the outbox drained under Telegram's limits, and one alert's way out.

    .venv/bin/python bench/delivery.py                 # 10,000 alerts, about seven minutes
    .venv/bin/python bench/delivery.py --alerts 1000   # a quick look
    .venv/bin/python bench/delivery.py --alerts 600 --rtt 0.1   # Telegram 100 ms away

1. Drain. N alerts are queued straight into a temporary SQLite store (through
   `bot.store.queries`), one alert for each of N chats (one in ten a supergroup), and
   `bot.delivery.sender.Sender` drains them with a real PTB `telegram.Bot` into the Bot API
   emulator, which enforces Telegram's default limits (1/s per chat, 20/min per group,
   30/s in all) and counts every violation. One alert per chat makes the global limit the
   only one that binds: no chat ever waits for its own limit, and no digest can fold
   alerts together, so the send rate is the sender's throughput against the 30/s ceiling.
   The emulator runs in a child process, so the peak memory reported (ru_maxrss) is the
   sending side's alone: store, sender, PTB.
2. Latency. A whole `NewsBot` runs in-process with POLL_INTERVAL=1 and one private chat
   that follows KIDA. A matching article is published on the feed server; the time runs
   from the poll that fetched the new feed (the request reaching the feed server) to the
   emulator accepting the alert's sendMessage. Repeated a few times.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import func, select
from telegram import Bot

from bot.app import NewsBot
from bot.config import load_settings
from bot.core.article import Article
from bot.delivery.limits import Pacer
from bot.delivery.sender import Sender
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Delivery
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import RateLimits, TelegramEmulator

GLOBAL_LIMIT = RateLimits().global_per_second
RATE_TARGET = 0.9
LATENCY_TARGET = 1.0
CHATS_PER_ARTICLE = 500  # a story many chats follow: one article, many alerts
GROUP_EVERY = 10  # one chat in ten is a supergroup
LATENCY_ROUNDS = 5


def chat_ids(count: int) -> Iterator[tuple[int, str]]:
    """(chat id, type): private chats have their user's positive id, groups -100…"""
    for n in range(count):
        if n % GROUP_EVERY == GROUP_EVERY - 1:
            yield -1_001_000_000_000 - n, "supergroup"
        else:
            yield 10_000_000 + n, "private"


# -- the emulator, in a process of its own ----------------------------------------------------


def _serve(connection: Connection, chats: int, rtt: float) -> None:
    """Child process: an emulator with the bench's chats, answering the parent's questions."""
    with TelegramEmulator() as telegram:
        for chat_id, kind in chat_ids(chats):
            telegram.add_chat(chat_id, kind)  # type: ignore[arg-type]
        telegram.enforce_limits(RateLimits())
        telegram.delay("sendMessage", rtt)  # 0: answer at once
        connection.send((telegram.token, telegram.base_url))
        while True:
            command = connection.recv()
            if command == "count":
                connection.send(len(telegram.sent_messages()))
            elif command == "stats":
                sent = telegram.sent_messages()
                connection.send(
                    {
                        "sent": len(sent),
                        "chats": len({m.chat_id for m in sent}),
                        "calls": len(telegram.calls_to("sendMessage")),
                        "violations": list(telegram.violations),
                    }
                )
            else:
                connection.send(None)
                return


class EmulatorProcess:
    def __init__(self, chats: int, rtt: float) -> None:
        context = multiprocessing.get_context("fork")  # before any thread or event loop
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, chats, rtt), daemon=True)
        self._process.start()
        self.token, self.base_url = self._connection.recv()

    def ask(self, command: str) -> Any:
        self._connection.send(command)
        return self._connection.recv()

    def close(self) -> None:
        if self._process.is_alive():
            self.ask("stop")
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


# -- 1. drain -------------------------------------------------------------------------------


@dataclass
class DrainResult:
    alerts: int
    seconds: float
    rate: float  # messages per second between the first and the last
    worst_window_rate: float  # the slowest 10-second stretch
    violations: list[str]
    calls: int
    distinct_chats: int
    peak_rss_mb: float
    queue_seconds: float
    paced_at: float  # the pacer's global messages per second
    rtt: float  # seconds the emulator waited before answering each sendMessage


async def queue_alerts(store: Store, alerts: int) -> None:
    """One alert for each of `alerts` chats; each article goes to CHATS_PER_ARTICLE chats."""
    chats = list(chat_ids(alerts))
    async with store.transaction() as session:
        for chat_id, kind in chats:
            await queries.touch_chat(session, chat_id, kind, f"Chat {chat_id}")
        await queries.sync_operator_sources(session, [("https://wire.example/rss", "Wire")])
        source = await queries.source_by_url(session, "https://wire.example/rss")
        assert source is not None
        now = datetime.now(UTC)
        for n in range(math.ceil(alerts / CHATS_PER_ARTICLE)):
            link = f"https://wire.example/kida/{n}"
            article = Article(title=f"KIDA note {n}", link=link, summary="KIDA said so.")
            article_id = await queries.insert_article(session, source.id, article, [link], now)
            batch = chats[n * CHATS_PER_ARTICLE : (n + 1) * CHATS_PER_ARTICLE]
            queued = {chat_id: queries.Queued({"KIDA": "kida"}) for chat_id, _ in batch}
            await queries.enqueue(session, article_id, queued)


async def unsent(store: Store) -> int:
    async with store.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.sent_at.is_(None))
            )
            or 0
        )


async def drain(alerts: int, rtt: float, emulator: EmulatorProcess, workdir: Path) -> DrainResult:
    store = Store(f"sqlite+aiosqlite:///{workdir / 'drain.db'}")
    await store.migrate()
    started = time.monotonic()
    await queue_alerts(store, alerts)
    queue_seconds = time.monotonic() - started
    print(f"queued {alerts:,} alerts in {queue_seconds:.1f} s; draining…", flush=True)

    samples: list[tuple[float, int]] = []  # (time, messages accepted so far)
    async with Bot(emulator.token, base_url=emulator.base_url) as bot:
        pacer = Pacer()  # the default limits, as `newsbot run` uses them
        sender = Sender(store, bot, pacer=pacer)
        task = asyncio.create_task(sender.run(asyncio.Event()))
        try:
            deadline = time.monotonic() + alerts / 2 + 120  # a stuck drain ends
            last_report = time.monotonic()
            while time.monotonic() < deadline:
                count = await asyncio.to_thread(emulator.ask, "count")
                samples.append((time.monotonic(), count))
                if count >= alerts and await unsent(store) == 0:
                    break
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    print(f"  {count:,} sent", flush=True)
                await asyncio.sleep(0.25)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    left = await unsent(store)
    await store.close()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats = emulator.ask("stats")
    if left or stats["sent"] < alerts:
        raise SystemExit(f"drain incomplete: {stats['sent']:,} sent, {left:,} left in the outbox")

    moving = [(t, n) for t, n in samples if n > 0]
    first_t, first_n = moving[0]
    last_t = next(t for t, n in samples if n >= alerts)
    rate = (alerts - first_n) / (last_t - first_t) if last_t > first_t else float("nan")
    window = [
        (n2 - n1) / (t2 - t1)
        for (t1, n1), (t2, n2) in zip(moving, moving[40:], strict=False)  # 40 samples: 10 s
        if n2 < alerts
    ]
    return DrainResult(
        alerts=alerts,
        seconds=last_t - first_t,
        rate=rate,
        worst_window_rate=min(window, default=rate),
        violations=stats["violations"],
        calls=stats["calls"],
        distinct_chats=stats["chats"],
        peak_rss_mb=peak_rss_mb,
        queue_seconds=queue_seconds,
        paced_at=pacer.limits.global_per_second,
        rtt=rtt,
    )


# -- 2. latency ------------------------------------------------------------------------------


class TimedFeedServer(FeedServer):
    """A FeedServer that remembers when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str]] = []

    def _receive(self, path: str, headers: dict[str, str]) -> Any:
        self.arrivals.append((time.monotonic(), path))
        return super()._receive(path, headers)

    def first_request_after(self, moment: float, path: str) -> float | None:
        return next((t for t, p in list(self.arrivals) if t >= moment and p == path), None)


def _link_sent_at(telegram: TelegramEmulator, chat_id: int, link: str, timeout: float) -> float:
    """Block until `link` reaches the chat; the time the emulator accepted it (± a few ms)."""
    telegram.wait_for(
        lambda: any(link in m.text for m in telegram.sent_messages(chat_id)),
        timeout=timeout,
        what=f"an alert for {link}",
    )
    return time.monotonic()


async def latency(workdir: Path, rounds: int) -> list[float]:
    chat_id, path = 4242, "/wire.xml"
    with TelegramEmulator() as telegram, TimedFeedServer() as feeds:
        telegram.add_user(chat_id, "Quiet Reader")
        telegram.add_chat(chat_id, "private")
        telegram.enforce_limits(RateLimits())
        feeds.set_feed(path, rss([], title="Wire"))
        opml = workdir / "sources.opml"
        opml.write_text(
            '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
            f'<outline text="Wire" xmlUrl="{feeds.url(path)}"/></body></opml>'
        )
        settings = load_settings(
            telegram_bot_token=telegram.token,
            telegram_api_url=telegram.root_url,
            database_url=f"sqlite+aiosqlite:///{workdir / 'latency.db'}",
            sources=opml,
            poll_interval=1,
            search_feeds="",  # offline: no news search feeds on the internet
        )
        bot = NewsBot(settings)
        await bot.start()
        try:
            telegram.send_message(chat_id, "/follow KIDA")
            await asyncio.to_thread(telegram.wait_for_messages, chat_id, 1, 30)
            polls = feeds.request_count(path)
            while feeds.request_count(path) < polls + 2:  # a whole poll ran after the follow
                await asyncio.sleep(0.05)
            items: list[dict[str, str]] = []
            seconds = []
            for n in range(rounds):
                link = f"https://wire.example/latency/{n}"
                items.append({"title": f"KIDA brief {n}", "link": link, "guid": link})
                feeds.set_feed(path, rss(list(reversed(items)), title="Wire"))
                published = time.monotonic()  # any request from now on gets the new feed
                sent_at = await asyncio.to_thread(_link_sent_at, telegram, chat_id, link, 30)
                found_at = feeds.first_request_after(published, path)
                assert found_at is not None
                seconds.append(sent_at - found_at)
                print(f"  alert {n + 1}: {sent_at - found_at:.3f} s after the poll", flush=True)
                await asyncio.sleep(1.2)  # a quiet chat: its last message is over a second old
            return seconds
        finally:
            await bot.stop()


# -- report ----------------------------------------------------------------------------------


def table(result: DrainResult, seconds: list[float]) -> str:
    fraction = result.rate / GLOBAL_LIMIT
    worst = result.worst_window_rate / GLOBAL_LIMIT
    rows = [
        ("Measure", "Result", "Target"),
        ("---", "---", "---"),
        (
            f"Sustained send rate, {result.alerts:,} alerts to {result.distinct_chats:,} chats"
            + (f", answers {result.rtt * 1000:.0f} ms late" if result.rtt else ""),
            f"{result.rate:.1f}/s = **{fraction:.2f}** of {GLOBAL_LIMIT}/s "
            f"(slowest 10 s: {worst:.2f}; pacer set to {result.paced_at:g}/s)",
            f"≥ {RATE_TARGET} of {GLOBAL_LIMIT}/s",
        ),
        ("Limit violations (emulator)", str(len(result.violations)), "0"),
        (
            "sendMessage calls per alert",
            f"{result.calls / result.alerts:.3f} ({result.calls:,} calls)",
            "1",
        ),
        ("Peak memory, sending process (ru_maxrss)", f"{result.peak_rss_mb:.0f} MB", "—"),
        (
            f"Article to alert, quiet chat (median / max of {len(seconds)})",
            f"{statistics.median(seconds):.3f} s / {max(seconds):.3f} s",
            f"< {LATENCY_TARGET:g} s after the poll",
        ),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts to drain")
    parser.add_argument("--rounds", type=int, default=LATENCY_ROUNDS, help="latency samples")
    parser.add_argument(
        "--rtt",
        type=float,
        default=0.0,
        help="seconds the emulator waits before answering sendMessage (api.telegram.org is "
        "tens to hundreds of ms away; 127.0.0.1 is not)",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as directory:
        workdir = Path(directory)
        emulator = EmulatorProcess(options.alerts, options.rtt)
        try:
            result = asyncio.run(drain(options.alerts, options.rtt, emulator, workdir))
        finally:
            emulator.close()
        print(
            f"drained {result.alerts:,} alerts in {result.seconds:.0f} s: {result.rate:.2f}/s; "
            f"{len(result.violations)} violations {result.violations[:3]}",
            flush=True,
        )
        print("latency of one alert to a quiet chat:", flush=True)
        seconds = asyncio.run(latency(workdir, options.rounds))
    print()
    print(table(result, seconds))
    print()
    verdicts = [
        ("send rate", result.rate / GLOBAL_LIMIT >= RATE_TARGET),
        ("violations", not result.violations),
        ("latency", max(seconds) < LATENCY_TARGET),
    ]
    print("; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdicts))


if __name__ == "__main__":
    main()
