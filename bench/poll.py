"""One whole poll round through the bot's own code, beside feedparser alone on the same bytes.

    .venv/bin/python bench/poll.py                  # 2,000 feeds of 50 items, ~3 minutes
    .venv/bin/python bench/poll.py --feeds 200      # a quick look
    .venv/bin/python bench/poll.py --processes 2    # only with two polling processes
    .venv/bin/python bench/poll.py --profile        # and where the round's CPU time goes
    .venv/bin/python bench/poll.py --parsers-only   # the parsers alone, in seconds
    .venv/bin/python bench/poll.py --database-url postgresql+asyncpg://postgres@127.0.0.1/test

A server process answers from 127.0.0.1-127.0.0.N (a minimal asyncio HTTP/1.1 server: the
stdlib's threading server would be the bottleneck). The bot's polling processes, built as
`newsbot poll` builds one (Poller, Ingestor, Fetcher), claim and poll the operator sources
(fetch, parse, dedup, match, enqueue) on a temporary SQLite store (or a schema of its own
on PostgreSQL, dropped after), with chats following a few tags. Once with one polling
process, once with two (POLL_PROCESSES=2, one per core of the 2-core machine the targets
are set for), each on a fresh store:

- round 0 primes the store: every feed is new (50 items each);
- round 1 is the measured round: half the feeds are unchanged and answer 304 to the
  conditional GET, half changed (10 new items of 50), so matching and the outbox work too.
  The two halves run one after the other, so that the processes' CPU time tells what a 304
  and what a 200 cost.

Then, in the same run and on the same bytes as round 1's 200 answers, the parsers alone:
feedparser, fastfeedparser and this bot's `parse_document`; and httpx alone on the 304
half's requests, the floor under a 304. Targets (issue 5): the round at least 10 times
feedparser alone's feeds per second, and a 304 under 1 ms of CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import multiprocessing
import os
import pstats
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from xml.sax.saxutils import escape

import fastfeedparser
import feedparser
import httpx
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.aliases import AliasTable
from bot.core.tags import make_tag
from bot.ingest import IndexCache, Ingestor
from bot.polling import POLL_CONCURRENCY, Poller
from bot.sources.fetch import Fetcher
from bot.sources.parse import parse_document
from bot.sources.transport import aiohttp_transport
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Article, Delivery, Source, utcnow
from bot.vocabulary import Vocabulary

CHANGED_ITEMS = 10  # new items in a changed feed, on top of the 40 newest old ones
FOLLOWED = ("KIDA", "Hanwha Aerospace", "North Korea", "NATO")
CHATS = 3
TOPICS = [
    "The Korea Institute for Defense Analyses said exports could double",
    "Hanwha Aerospace expands artillery lines in Poland and Romania",
    "North Korea fired a short-range ballistic missile, the Joint Chiefs said",
    "NATO members agreed to raise defence budgets to 5 percent of GDP",
    "Shipbuilders report record orders for the third quarter",
    "The central bank held its base rate for a fourth month",
    "Seoul and Tokyo agreed to resume shuttle diplomacy",
    "Chip exports rose for a tenth straight month",
]


# -- the feeds ---------------------------------------------------------------------------------


def feed_document(feed: int, version: int, items: int) -> bytes:
    """Feed `feed` at `version`: version 1 has items 0..items-1, version 2 the next
    CHANGED_ITEMS on top. Deterministic, so both processes build the same bytes."""
    first = CHANGED_ITEMS if version == 2 else 0
    numbers = range(first + items - 1, first - 1, -1)  # newest first
    start = datetime(2025, 4, 16, tzinfo=UTC)
    body = "".join(_item(feed, n, start + timedelta(minutes=n)) for n in numbers)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Bench feed {feed}</title><link>https://site{feed}.example/</link>"
        f"<description>Feed {feed}</description><language>en</language>{body}</channel></rss>"
    ).encode()


def _item(feed: int, n: int, when: datetime) -> str:
    topic = TOPICS[(feed + n) % len(TOPICS)]
    link = f"https://site{feed}.example/news/{n}"
    return (
        f"<item><title>{escape(topic)} ({feed}-{n})</title><link>{link}</link>"
        f'<guid isPermaLink="false">site{feed}-{n}</guid>'
        f"<description>{escape(f'<p>{topic}. Officials gave <b>details</b> on Monday.</p>')}"
        f"</description><category>World</category><category>Asia</category>"
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>"
    )


def host(feed: int, hosts: int) -> str:
    return f"127.0.0.{1 + feed % hosts}"


def path(feed: int) -> str:
    return f"/feed/{feed}.xml"


def changed(feed: int) -> bool:
    return feed % 2 == 0


# -- the server process ------------------------------------------------------------------------


def serve(feeds: int, items: int, hosts: int, round_: Synchronized[int], ready: Connection) -> None:
    """Run the feed server until killed: every feed at version 1, and in round 1 the changed
    half at version 2. ETags name the version, so an unchanged feed answers 304."""
    documents = {
        (feed, version): feed_document(feed, version, items)
        for feed in range(feeds)
        for version in ((1, 2) if changed(feed) else (1,))
    }

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                feed = int(target.rsplit("/", 1)[1].split(".")[0])
                version = 2 if round_.value == 1 and changed(feed) else 1
                etag = f'"{feed}-{version}"'.encode()
                if b"if-none-match: " + etag in head.lower():
                    writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n")
                else:
                    body = documents[feed, version]
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: %s\r\n"
                    writer.write(head % etag + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [
            await asyncio.start_server(answer, f"127.0.0.{n}", 0, backlog=1024)
            for n in range(1, hosts + 1)
        ]
        ready.send([server.sockets[0].getsockname()[1] for server in servers])
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the bot's processes -----------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    feeds: int
    wall: float
    cpu: float  # of every polling process, summed
    polled: int
    new: int
    queued: int
    errors: Counter[str]

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.feeds:>5} feeds {self.feeds / self.wall:8.1f} feeds/s "
            f"{1000 * self.cpu / self.feeds:7.3f} ms CPU/feed  new {self.new:>6}  "
            f"queued {self.queued:>5}  errors {sum(self.errors.values())}"
            + (f"  (polled only {self.polled})" if self.polled != self.feeds else "")
            + "".join(f"\n    {count} x {error}" for error, count in self.errors.most_common(3))
        )


BENCH_SCHEMA = "newsbot_bench"


def open_store(database_url: str | None, directory: str) -> Store:
    """The bench's store: a SQLite file in `directory`, or its own schema on PostgreSQL."""
    if not database_url:
        return Store(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
    return Store(database_url, connect_args={"server_settings": {"search_path": BENCH_SCHEMA}})


async def new_store(database_url: str | None, directory: str) -> Store:
    """A fresh, migrated store, so the bench never touches other data (the schema is
    dropped at the end)."""
    if database_url:
        await drop_bench_schema(database_url)
        admin = create_async_engine(database_url)
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{BENCH_SCHEMA}"'))
        await admin.dispose()
    store = open_store(database_url, directory)
    await store.migrate()
    return store


async def drop_bench_schema(database_url: str) -> None:
    admin = create_async_engine(database_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{BENCH_SCHEMA}" CASCADE'))
    await admin.dispose()


def poll_process(
    database_url: str | None, directory: str, orders: Connection, profile: bool
) -> None:
    """One of the bot's polling processes, as `newsbot poll` builds it, told when to poll:
    at each order it ticks its Poller until nothing is due, writes the unchanged polls, and
    answers with the CPU seconds that took (and, profiled, where they went)."""
    logging.basicConfig(level=logging.CRITICAL)  # failures are counted from the database

    async def main() -> None:
        store = open_store(database_url, directory)
        async with Fetcher(timeout=60) as fetcher:
            ingestor = Ingestor(
                store, fetcher, IndexCache(store, Vocabulary(store, AliasTable.load()))
            )
            poller = Poller(store, ingestor, search=False)
            loop = asyncio.get_running_loop()
            while (order := await loop.run_in_executor(None, orders.recv)) is not None:
                profiler = cProfile.Profile() if profile and order else None
                if profiler:
                    profiler.enable()
                started = time.process_time()
                await poller.tick()
                await poller.idle()
                await ingestor.flush()  # as the next tick would: the unchanged polls written
                cpu = time.process_time() - started
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(Path(directory) / f"{order}-{os.getpid()}.prof")
                orders.send(cpu)
        await store.close()
        orders.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    asyncio.run(main())


async def counts(store: Store, ids: Sequence[int], since: datetime) -> tuple[int, int, int]:
    """Stories stored, alerts queued, and of `ids` the sources polled since `since`."""
    async with store.transaction() as session:
        stories = await session.scalar(select(func.count()).select_from(Article))
        alerts = await session.scalar(select(func.count()).select_from(Delivery))
        polled = await session.scalar(
            select(func.count()).where(Source.id.in_(ids), Source.last_polled_at >= since)
        )
    return stories or 0, alerts or 0, polled or 0


async def run_phase(
    store: Store, processes: list[Connection], ids: Sequence[int], name: str, order: str
) -> Phase:
    """Make `ids` due, have every process poll until none is, and read what they did."""
    async with store.transaction() as session:
        await session.execute(update(Source).where(Source.id.in_(ids)).values(next_poll_at=None))
    since = utcnow()
    stories, alerts, _ = await counts(store, ids, since)
    wall = time.perf_counter()
    for process in processes:
        process.send(order)
    cpu = sum(await asyncio.gather(*(asyncio.to_thread(p.recv) for p in processes)))
    wall = time.perf_counter() - wall
    stories_after, alerts_after, polled = await counts(store, ids, since)
    async with store.transaction() as session:
        failing = await session.scalars(
            select(Source.last_error).where(Source.id.in_(ids), Source.last_error.is_not(None))
        )
        errors = Counter(failing)
    return Phase(
        name, len(ids), wall, cpu, polled, stories_after - stories, alerts_after - alerts, errors
    )


async def bare_304s(feeds: Sequence[tuple[int, str]]) -> dict[str, float]:
    """CPU ms per conditional GET answered 304 with httpx alone, one after another, on the
    same URLs as the 304 half of round 1: the floor under a 304 poll's cost, with httpx's
    default transport and with the one the Fetcher uses by default (httpx over aiohttp)."""
    floors = {}
    for name, transport in (
        ("httpx, its default transport", None),
        ("httpx over aiohttp, the Fetcher's", aiohttp_transport()),
    ):
        async with httpx.AsyncClient(transport=transport) as client:
            started = time.process_time()
            for feed, url in feeds:
                await client.get(url, headers={"If-None-Match": f'"{feed}-1"'})
            floors[name] = 1000 * (time.process_time() - started) / len(feeds)
    return floors


def timed(run: Callable[[], object], count: int) -> float:
    """Feeds per second of `run`, which handles `count` feeds."""
    started = time.process_time()
    run()
    return count / (time.process_time() - started)


@dataclass
class Rounds:
    processes: int
    prime: Phase
    not_modified: Phase
    modified: Phase
    peak_mb: float  # the largest polling process's max RSS

    @property
    def rate(self) -> float:
        """Round 1's feeds per second, both halves."""
        feeds = self.not_modified.feeds + self.modified.feeds
        return feeds / (self.not_modified.wall + self.modified.wall)


async def rounds(args: argparse.Namespace, urls: dict[int, str], processes: int) -> Rounds:
    """Rounds 0 and 1 on a fresh store, polled by `processes` of the bot's processes."""
    args.round.value = 0
    with tempfile.TemporaryDirectory() as directory:
        store = await new_store(args.database_url, directory)
        aliases = AliasTable.load()
        async with store.transaction() as session:
            await queries.sync_operator_sources(
                session, [(url, f"Bench feed {feed}") for feed, url in urls.items()]
            )
            for chat in range(1, CHATS + 1):
                await queries.touch_chat(session, chat, "private", None)
                await queries.follow(session, chat, [make_tag(name, aliases) for name in FOLLOWED])
        async with store.transaction() as session:
            by_url = {source.url: source.id for source in await queries.all_sources(session)}
        ids = {feed: by_url[url] for feed, url in urls.items()}
        unchanged = [ids[f] for f in range(args.feeds) if not changed(f)]
        fresh = [ids[f] for f in range(args.feeds) if changed(f)]

        context = multiprocessing.get_context("spawn")
        orders, workers = [], []
        for _ in range(processes):
            ours, theirs = context.Pipe()
            worker = context.Process(
                target=poll_process, args=(args.database_url, directory, theirs, args.profile)
            )
            worker.start()
            orders.append(ours)
            workers.append(worker)
        try:
            every = list(ids.values())
            prime = await run_phase(store, orders, every, "round 0: all new", "")
            args.round.value = 1
            not_modified = await run_phase(
                store, orders, unchanged, "round 1: unchanged, 304", "unchanged"
            )
            modified = await run_phase(store, orders, fresh, "round 1: changed, 200", "changed")
            for order in orders:
                order.send(None)
            peak = max(order.recv() for order in orders)
        finally:
            for worker in workers:
                worker.join(timeout=30)
                worker.kill()
        await store.close()
        if args.database_url:
            await drop_bench_schema(args.database_url)
        if args.profile:
            report_profile(processes, sorted(Path(directory).glob("changed-*.prof")))
    return Rounds(processes, prime, not_modified, modified, peak / 1024)


async def bench(args: argparse.Namespace, ports: list[int]) -> None:
    urls = {
        feed: f"http://{host(feed, args.hosts)}:{ports[feed % args.hosts]}{path(feed)}"
        for feed in range(args.feeds)
    }
    before = feedparser_rate(args)  # the machine's speed drifts over a run: see below
    results = [await rounds(args, urls, count) for count in args.processes]
    args.round.value = 1
    floor_304 = await bare_304s([(f, urls[f]) for f in range(args.feeds) if not changed(f)])

    print(
        f"{args.feeds} feeds of {args.items} items on {args.hosts} loopback hosts, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}, "
        f"each polling process {POLL_CONCURRENCY} polls at a time\n"
    )
    for result in results:
        print(f"{result.processes} polling process(es):")
        for phase in (result.prime, result.not_modified, result.modified):
            print("  " + phase.line())
        print(
            f"  round 1, whole: {result.rate:.1f} feeds/s; "
            f"peak memory of a polling process (max RSS): {result.peak_mb:.0f} MB\n"
        )
    after = parsers_alone(args, urls[0])
    yardstick = (before + after) / 2  # taken before and after the rounds
    print(
        f"  feedparser before the rounds {before:.1f} feeds/s, after {after:.1f}: "
        f"the yardstick is {yardstick:.1f}\n"
    )
    for result in results:
        ratio = result.rate / yardstick
        cpu_304 = 1000 * result.not_modified.cpu / result.not_modified.feeds
        print(
            f"{result.processes} process(es): round / feedparser alone {ratio:.1f}x "
            f"(target >= 10: {'ok' if ratio >= 10 else 'MISSED'}); CPU per 304 {cpu_304:.3f} ms "
            f"(target < 1 ms: {'ok' if cpu_304 < 1 else 'MISSED'})"
        )
    for name, floor in floor_304.items():
        print(f"  {name}, the same 304 requests: {floor:.3f} ms CPU each")


def report_profile(processes: int, files: list[Path]) -> None:
    """Where round 1's changed half spent its CPU, over every polling process."""
    if not files:
        return
    stats = pstats.Stats(*map(str, files))
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nround 1, changed half, {processes} process(es): own time by package (main threads)")
    for package, seconds in by_package(stats).most_common():
        print(f"  {package:<44} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
    print("\nthe same, by function:")
    stats.sort_stats("tottime").print_stats(30)


def changed_bodies(args: argparse.Namespace) -> list[bytes]:
    """The bytes of round 1's changed feeds, as the server sends them."""
    return [feed_document(f, 2, args.items) for f in range(args.feeds) if changed(f)]


def feedparser_rate(args: argparse.Namespace) -> float:
    """feedparser's CPU feeds per second on a sample of round 1's changed feeds."""
    sample = changed_bodies(args)[: args.feedparser_sample]
    return timed(lambda: [feedparser.parse(io.BytesIO(body)) for body in sample], len(sample))


def parsers_alone(args: argparse.Namespace, url: str) -> float:
    """Print each parser's CPU speed alone on the bytes of round 1's changed feeds, and return
    feedparser's feeds per second, the round's yardstick."""
    changed_feeds = [f for f in range(args.feeds) if changed(f)]
    bodies = changed_bodies(args)

    def rate(name: str, documents: list[bytes], parse: Callable[[bytes], object]) -> float:
        speed = timed(lambda: [parse(body) for body in documents], len(documents))
        print(f"  {name:<15} {speed:8.1f} feeds/s {1000 / speed:7.3f} ms/feed  ({len(documents)})")
        return speed

    print(f"parsers alone, CPU, on the {len(bodies)} changed feeds' bytes (how many timed):")
    yardstick = rate(
        "feedparser",
        bodies[: args.feedparser_sample],
        lambda body: feedparser.parse(io.BytesIO(body)),
    )
    rate("fastfeedparser", bodies, fastfeedparser.parse)
    rate(
        "parse_document",  # decode, lxml, plain text, Articles
        bodies,
        lambda body: parse_document(body, url, content_type="application/rss+xml"),
    )
    # As a poll reads a changed feed: the items seen last poll are skipped early.
    before = [feed_document(f, 1, args.items) for f in changed_feeds]
    seen = {
        body: parse_document(old, url, content_type="application/rss+xml").fingerprints
        for body, old in zip(bodies, before, strict=True)
    }
    rate(
        f"... {args.items - CHANGED_ITEMS} seen",
        bodies,
        lambda body: parse_document(body, url, content_type="application/rss+xml", seen=seen[body]),
    )
    return yardstick


PACKAGES = (  # the first one found in a function's file name names its package
    ("/bot/sources/", "bot.sources (fetch, parse)"),
    ("/bot/", "bot (ingest, dedup, matching, store queries)"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("/aiosqlite/", "aiosqlite"),
    ("/httpx/", "http client (httpx, httpcore, h11, anyio)"),
    ("/httpcore/", "http client (httpx, httpcore, h11, anyio)"),
    ("/h11/", "http client (httpx, httpcore, h11, anyio)"),
    ("/anyio/", "http client (httpx, httpcore, h11, anyio)"),
    ("/asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("importlib", "imports (httpcore looks for sniffio per request)"),
    ("/w3lib/", "w3lib (dedup's canonical URLs)"),
    ("/site-packages/", "other libraries"),
    ("/lib/python3", "standard library (urllib, json, re, email...)"),
)


def by_package(stats: pstats.Stats) -> Counter[str]:
    """Own time per package; C functions count for the package of their name's module."""
    totals: Counter[str] = Counter()
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = filename if filename != "~" else name
        if "epoll" in where:
            package = "waiting for I/O (epoll)"
        elif "greenlet" in where:
            package = "sqlalchemy"
        else:
            package = next((label for key, label in PACKAGES if key in where), "other C code")
        totals[package] += row[2]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses to serve on")
    parser.add_argument(
        "--processes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="polling processes, one run per count (default 1,2: one per core here)",
    )
    parser.add_argument("--feedparser-sample", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL (postgresql+asyncpg://...) to run the rounds on; default SQLite",
    )
    parser.add_argument("--parsers-only", action="store_true", help="no poll rounds, no server")
    args = parser.parse_args()
    if args.parsers_only:
        parsers_alone(args, f"http://{host(0, args.hosts)}{path(0)}")
        return
    logging.basicConfig(level=logging.CRITICAL)  # failures are counted in the summary
    args.round = multiprocessing.Value("i", 0)
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(
        target=serve, args=(args.feeds, args.items, args.hosts, args.round, send), daemon=True
    )
    server.start()
    try:
        ports = receive.recv()
        asyncio.run(bench(args, ports))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
