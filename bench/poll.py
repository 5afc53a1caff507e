"""One whole poll round through the bot's own code, beside feedparser alone on the same bytes.

    .venv/bin/python bench/poll.py                  # 2,000 feeds of 50 items, ~2 minutes
    .venv/bin/python bench/poll.py --feeds 200      # a quick look
    .venv/bin/python bench/poll.py --profile        # and where the round's CPU time goes
    .venv/bin/python bench/poll.py --parsers-only   # the parsers alone, in seconds
    .venv/bin/python bench/poll.py --database-url postgresql+asyncpg://postgres@127.0.0.1/test

A server process answers from 127.0.0.1-127.0.0.N (a minimal asyncio HTTP/1.1 server: the
stdlib's threading server would be the bottleneck). The bot process runs the operator
sources through `Ingestor.poll` (fetch, parse, dedup, match, enqueue) on a temporary
SQLite store (or a schema of its own on PostgreSQL, dropped after), the poller's
concurrency at a time, with chats following a few tags:

- round 0 primes the store: every feed is new (50 items each);
- round 1 is the measured round: half the feeds are unchanged and answer 304 to the
  conditional GET, half changed (10 new items of 50), so matching and the outbox work too.
  The two halves run one after the other, so that the process's CPU time tells what a 304
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
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.aliases import AliasTable
from bot.core.tags import make_tag
from bot.ingest import IndexCache, Ingestor, PollReport
from bot.sources.fetch import Fetcher
from bot.sources.parse import parse_document
from bot.sources.transport import aiohttp_transport
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Source
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


# -- the bot process ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    feeds: int
    wall: float
    cpu: float
    reports: list[PollReport]

    def line(self) -> str:
        errors = Counter(r.error for r in self.reports if r.error)
        new = sum(r.new_articles for r in self.reports)
        queued = sum(r.queued for r in self.reports)
        return (
            f"{self.name:<28} {self.feeds:>5} feeds {self.feeds / self.wall:8.1f} feeds/s "
            f"{1000 * self.cpu / self.feeds:7.3f} ms CPU/feed  new {new:>6}  queued {queued:>5}"
            f"  errors {sum(errors.values())}"
            + "".join(f"\n    {count} x {error}" for error, count in errors.most_common(3))
        )


async def poll_all(
    store: Store, ingestor: Ingestor, source_ids: Sequence[int], concurrency: int, name: str
) -> Phase:
    slots = asyncio.Semaphore(concurrency)

    async def one(source: Source) -> PollReport:
        async with slots:
            return await ingestor.poll(source)

    wall, cpu = time.perf_counter(), time.process_time()
    # As the app's poller does: every due source read in one query, each row handed over.
    async with store.transaction() as session:
        sources = list(await session.scalars(select(Source).where(Source.id.in_(source_ids))))
    reports = await asyncio.gather(*(one(source) for source in sources))
    await ingestor.flush()  # as the poller's next tick does: the unchanged polls written
    return Phase(
        name, len(source_ids), time.perf_counter() - wall, time.process_time() - cpu, reports
    )


BENCH_SCHEMA = "newsbot_bench"


async def bench_store(database_url: str | None, directory: Path) -> Store:
    """A fresh, migrated store: a temporary SQLite file, or a schema of its own on
    PostgreSQL (dropped at the end), so the bench never touches other data."""
    if not database_url:
        store = Store(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    else:
        await drop_bench_schema(database_url)
        admin = create_async_engine(database_url)
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{BENCH_SCHEMA}"'))
        await admin.dispose()
        store = Store(database_url, connect_args={"server_settings": {"search_path": BENCH_SCHEMA}})
    await store.migrate()
    return store


async def drop_bench_schema(database_url: str) -> None:
    admin = create_async_engine(database_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{BENCH_SCHEMA}" CASCADE'))
    await admin.dispose()


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


async def bench(args: argparse.Namespace, ports: list[int]) -> None:
    urls = {
        feed: f"http://{host(feed, args.hosts)}:{ports[feed % args.hosts]}{path(feed)}"
        for feed in range(args.feeds)
    }
    with tempfile.TemporaryDirectory() as directory:
        store = await bench_store(args.database_url, Path(directory))
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

        async with Fetcher(timeout=60) as fetcher:
            ingestor = Ingestor(store, fetcher, IndexCache(store, Vocabulary(store, aliases)))
            every = list(ids.values())
            prime = await poll_all(store, ingestor, every, args.concurrency, "round 0: all new")
            args.round.value = 1
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            not_modified = await poll_all(
                store, ingestor, unchanged, args.concurrency, "round 1: unchanged, 304"
            )
            modified = await poll_all(
                store, ingestor, fresh, args.concurrency, "round 1: changed, 200"
            )
            if profiler:
                profiler.disable()
        await store.close()
        if args.database_url:
            await drop_bench_schema(args.database_url)
        floor_304 = await bare_304s([(f, urls[f]) for f in range(args.feeds) if not changed(f)])

    round_feeds = not_modified.feeds + modified.feeds
    round_rate = round_feeds / (not_modified.wall + modified.wall)
    cpu_304 = 1000 * not_modified.cpu / not_modified.feeds
    print(
        f"{args.feeds} feeds of {args.items} items on {args.hosts} loopback hosts, "
        f"{args.concurrency} polls at a time, {'PostgreSQL' if args.database_url else 'SQLite'}\n"
    )
    for phase in (prime, not_modified, modified):
        print(phase.line())
    print(f"\nround 1, whole: {round_rate:.1f} feeds/s")
    feedparser_rate = parsers_alone(args, urls[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (bot process, max RSS): {peak:.0f} MB")
    ratio = round_rate / feedparser_rate
    verdict = "ok" if ratio >= 10 else "MISSED"
    print(f"\nround / feedparser alone: {ratio:.1f}x (target >= 10): {verdict}")
    print(f"CPU per 304: {cpu_304:.3f} ms (target < 1 ms): {'ok' if cpu_304 < 1 else 'MISSED'}")
    for name, floor in floor_304.items():
        print(f"  {name}, the same 304 requests: {floor:.3f} ms CPU each")
    if profiler:
        stats = pstats.Stats(profiler)
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        print("\nround 1 profile (main thread, own time by package):")
        for package, seconds in by_package(stats).most_common():
            print(f"  {package:<44} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
        print("\nround 1 profile, by own time:")
        stats.sort_stats("tottime").print_stats(30)


def parsers_alone(args: argparse.Namespace, url: str) -> float:
    """Print each parser's CPU speed alone on the bytes of round 1's changed feeds, and return
    feedparser's feeds per second, the round's yardstick."""
    changed_feeds = [f for f in range(args.feeds) if changed(f)]
    bodies = [feed_document(f, 2, args.items) for f in changed_feeds]

    def rate(name: str, documents: list[bytes], parse: Callable[[bytes], object]) -> float:
        speed = timed(lambda: [parse(body) for body in documents], len(documents))
        print(f"  {name:<15} {speed:8.1f} feeds/s {1000 / speed:7.3f} ms/feed  ({len(documents)})")
        return speed

    print(f"parsers alone, CPU, on the {len(bodies)} changed feeds' bytes (how many timed):")
    feedparser_rate = rate(
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
    return feedparser_rate


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
    parser.add_argument("--concurrency", type=int, default=8, help="polls at a time (the app's)")
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
