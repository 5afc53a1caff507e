"""Fetcher against a real HTTP server on 127.0.0.1 (tests.fakes.feed_server)."""

from __future__ import annotations

import asyncio
import functools
import gc
import gzip
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import brotli
import httpx
import pytest

from bot.sources import guard
from bot.sources.fetch import DEFAULT_USER_AGENT, Fetcher
from tests.fakes.feed_server import FeedServer, rss

FEED = rss([{"title": "Drills announced", "link": "https://news.example.com/1", "guid": "1"}])
LAST_MODIFIED = "Mon, 04 Mar 2024 10:00:00 GMT"
PRIVATE_REFUSAL = (
    "refused: That address points to a private network (127.0.0.1), which this bot does not fetch."
)


@pytest.fixture
def server(feeds: FeedServer) -> FeedServer:
    """The shared feed server (tests/conftest.py), under this module's name for it."""
    return feeds


MakeFetcher = Callable[..., Fetcher]


@pytest.fixture(params=[False, True], ids=["aiohttp", "httpx-http2"])
def new_fetcher(request: pytest.FixtureRequest) -> MakeFetcher:
    """Makes Fetchers on one of the two transports: httpx over aiohttp (the default), or
    httpx's own with HTTP/2 (`http2=True`). Every test about fetching runs on both."""
    return functools.partial(Fetcher, http2=request.param)


@pytest.fixture
async def fetcher(new_fetcher: MakeFetcher) -> AsyncIterator[Fetcher]:
    """A Fetcher that may reach 127.0.0.1, like one whose feeds the operator configured."""
    async with new_fetcher(allow_private_networks=True, timeout=5) as local:
        yield local


async def test_ok_response_carries_body_validators_and_headers(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set_feed("/feed.xml", FEED, etag='"v1"', last_modified=LAST_MODIFIED)

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.ok and not result.not_modified and result.error is None
    assert (result.status, result.content) == (200, FEED.encode())
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)
    assert result.url == server.url("/feed.xml")
    assert result.permanent_redirect is None
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    [(_, sent)] = server.requests
    assert sent["user-agent"] == DEFAULT_USER_AGENT
    assert "if-none-match" not in sent and "if-modified-since" not in sent


async def test_matching_etag_gives_not_modified(server: FeedServer, fetcher: Fetcher) -> None:
    server.set_feed("/feed.xml", FEED)
    first = await fetcher.fetch(server.url("/feed.xml"))

    second = await fetcher.fetch(server.url("/feed.xml"), etag=first.etag)

    assert second.not_modified and not second.ok and second.error is None
    assert second.content == b""
    assert second.etag == first.etag
    assert server.requests[-1][1]["if-none-match"] == first.etag


async def test_changed_feed_is_fetched_again(server: FeedServer, fetcher: Fetcher) -> None:
    server.set_feed("/feed.xml", FEED)
    first = await fetcher.fetch(server.url("/feed.xml"))
    server.set_feed("/feed.xml", rss([{"title": "Something new"}]))

    second = await fetcher.fetch(server.url("/feed.xml"), etag=first.etag)

    assert second.ok and b"Something new" in second.content
    assert second.etag != first.etag


async def test_unsendable_validator_is_dropped_not_fatal(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set_feed("/feed.xml", FEED)

    result = await fetcher.fetch(server.url("/feed.xml"), etag='"caf\u00e9"')

    assert result.ok
    assert "if-none-match" not in server.requests[-1][1]


async def test_last_modified_gives_not_modified(server: FeedServer, fetcher: Fetcher) -> None:
    server.set_feed("/feed.xml", FEED, etag=None, last_modified=LAST_MODIFIED)

    result = await fetcher.fetch(server.url("/feed.xml"), last_modified=LAST_MODIFIED)

    assert result.not_modified
    assert result.last_modified == LAST_MODIFIED
    assert server.requests[-1][1]["if-modified-since"] == LAST_MODIFIED


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"), (410, "HTTP 410 Gone")],
)
async def test_http_error_status_becomes_error_text(
    server: FeedServer, fetcher: Fetcher, status: int, error: str
) -> None:
    server.set_feed("/feed.xml", "oops", status=status)

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert (result.status, result.error, result.ok) == (status, error, False)


async def test_unknown_path_is_404(server: FeedServer, fetcher: Fetcher) -> None:
    result = await fetcher.fetch(server.url("/nowhere"))

    assert result.error == "HTTP 404 Not Found"
    assert server.request_count("/nowhere") == 1


async def test_slow_server_times_out(server: FeedServer, new_fetcher: MakeFetcher) -> None:
    server.set_feed("/slow.xml", FEED, delay=3)

    async with new_fetcher(allow_private_networks=True, timeout=0.3) as impatient:
        result = await impatient.fetch(server.url("/slow.xml"))

    assert result.error == "timed out after 0.3 s"
    assert result.status == 0 and not result.ok


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
async def test_body_over_the_cap_is_refused(
    server: FeedServer, declare_length: bool, new_fetcher: MakeFetcher
) -> None:
    server.set_stream("/huge.xml", 1024 * 1024, declare_length=declare_length)

    async with new_fetcher(allow_private_networks=True, max_bytes=64 * 1024) as capped:
        result = await capped.fetch(server.url("/huge.xml"))

    assert result.error == "response larger than 64 KB"
    assert result.content == b"" and not result.ok


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("br", brotli.compress)]
)
async def test_compressed_body_is_decoded(
    server: FeedServer, fetcher: Fetcher, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    server.set_feed("/feed.xml", compress(FEED.encode()), headers={"Content-Encoding": encoding})

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.content == FEED.encode()
    assert encoding in server.requests[-1][1]["accept-encoding"]


async def test_at_most_per_host_requests_are_in_flight_to_one_host(
    server: FeedServer, new_fetcher: MakeFetcher
) -> None:
    server.set_feed("/slow.xml", FEED, delay=0.2)

    async with new_fetcher(allow_private_networks=True, per_host=2) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url("/slow.xml")) for _ in range(6)))

    assert all(result.ok for result in results)
    assert server.max_in_flight == 2


async def test_other_hosts_are_not_held_up_by_a_busy_one(
    server: FeedServer, internal: FeedServer, new_fetcher: MakeFetcher
) -> None:
    server.set_feed("/slow.xml", FEED, delay=1.0)
    internal.set_feed("/fast.xml", FEED)

    async with new_fetcher(allow_private_networks=True, per_host=1) as fetcher:
        slow = [asyncio.create_task(fetcher.fetch(server.url("/slow.xml"))) for _ in range(3)]
        await asyncio.sleep(0.05)  # the slow ones hold the one slot for their host
        fast = await fetcher.fetch(internal.url("/fast.xml"))
        still_waiting = not any(task.done() for task in slow)
        for task in slow:
            task.cancel()
        await asyncio.gather(*slow, return_exceptions=True)

    assert fast.ok and still_waiting  # the other host did not wait for this one's slot


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_surfaced(
    server: FeedServer, fetcher: Fetcher, status: int
) -> None:
    server.set_feed("/feed.xml", "slow down", status=status, headers={"Retry-After": "120"})

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.error is not None and result.error.startswith(f"HTTP {status}")
    assert result.retry_after == 120.0


async def test_a_host_that_said_retry_after_is_not_asked_again_for_any_feed_until_then(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """Many search feeds share one search engine: its 429 speaks for all of them."""
    server.set_feed("/search?q=kida", "slow down", status=429, headers={"Retry-After": "120"})
    server.set_feed("/search?q=nato", FEED)
    first = await fetcher.fetch(server.url("/search?q=kida"))

    second = await fetcher.fetch(server.url("/search?q=nato"))

    assert first.retry_after == 120.0
    assert second.error is not None and "asked us to wait" in second.error
    assert second.retry_after is not None and 110 < second.retry_after <= 120
    assert [path for path, _ in server.requests] == ["/search?q=kida"]


async def test_retry_after_date_is_measured_from_the_servers_clock(
    server: FeedServer, fetcher: Fetcher
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    server.set_feed("/feed.xml", "busy", status=503, headers={"Retry-After": later})

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.retry_after is not None and 85 <= result.retry_after <= 91


@pytest.mark.parametrize("value", ["soon", "", "-5", "Wed, 16 Apr 2025 09:30:00 -0000"])
async def test_unreadable_retry_after_is_no_hint(
    server: FeedServer, fetcher: Fetcher, value: str
) -> None:
    server.set_feed("/feed.xml", "busy", status=429, headers={"Retry-After": value})

    assert (await fetcher.fetch(server.url("/feed.xml"))).retry_after is None


@pytest.mark.parametrize(
    ("headers", "max_age"),
    [
        ({"Cache-Control": "public, max-age=900"}, 900.0),
        ({"Cache-Control": 'max-age="600", must-revalidate', "Age": "100"}, 500.0),
        ({"Cache-Control": "max-age=60", "Age": "300"}, 0.0),
        ({"Cache-Control": "no-cache"}, 0.0),
        ({"Cache-Control": "private"}, None),
        ({}, None),
    ],
)
async def test_max_age_is_surfaced(
    server: FeedServer, fetcher: Fetcher, headers: dict[str, str], max_age: float | None
) -> None:
    server.set_feed("/feed.xml", FEED, headers=headers)

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.max_age == max_age
    assert result.retry_after is None


async def test_not_modified_carries_max_age(server: FeedServer, fetcher: Fetcher) -> None:
    server.set_feed("/feed.xml", FEED, headers={"Cache-Control": "max-age=1800"})
    first = await fetcher.fetch(server.url("/feed.xml"))

    second = await fetcher.fetch(server.url("/feed.xml"), etag=first.etag)

    assert second.not_modified and second.max_age == 1800.0


@pytest.mark.parametrize(("status", "permanent"), [(301, True), (308, True), (302, False)])
async def test_redirect_is_followed_and_permanence_reported(
    server: FeedServer, fetcher: Fetcher, status: int, permanent: bool
) -> None:
    server.redirect("/old.xml", server.url("/new.xml"), status=status)
    server.set_feed("/new.xml", FEED)

    result = await fetcher.fetch(server.url("/old.xml"))

    assert result.ok and result.content == FEED.encode()
    assert result.url == server.url("/new.xml")
    assert result.permanent_redirect == (server.url("/new.xml") if permanent else None)


async def test_permanent_move_stops_at_the_first_temporary_hop(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.redirect("/a", "/b", status=301)  # relative Location
    server.redirect("/b", "/c", status=302)
    server.redirect("/c", "/d", status=301)
    server.set_feed("/d", FEED)

    result = await fetcher.fetch(server.url("/a"))

    assert result.ok and result.url == server.url("/d")
    assert result.permanent_redirect == server.url("/b")


async def test_redirect_loop_gives_up(server: FeedServer, new_fetcher: MakeFetcher) -> None:
    server.redirect("/ping", "/pong")
    server.redirect("/pong", "/ping")

    async with new_fetcher(allow_private_networks=True, max_redirects=3) as fetcher:
        result = await fetcher.fetch(server.url("/ping"))

    assert result.error == "too many redirects (more than 3)"
    assert len(server.requests) == 4


async def test_untrusted_private_url_is_refused_before_any_request(
    server: FeedServer, new_fetcher: MakeFetcher
) -> None:
    server.set_feed("/feed.xml", FEED)

    async with new_fetcher() as guarded:
        result = await guarded.fetch(server.url("/feed.xml"))

    assert result.error == PRIVATE_REFUSAL
    assert result.status == 0
    assert server.request_count("/feed.xml") == 0


async def test_trusted_private_url_is_fetched(server: FeedServer, new_fetcher: MakeFetcher) -> None:
    server.set_feed("/feed.xml", FEED)

    async with new_fetcher() as guarded:
        result = await guarded.fetch(server.url("/feed.xml"), trusted=True)

    assert result.ok
    assert server.request_count("/feed.xml") == 1


# Every spelling of the loopback address the FeedServer listens on; a fetch must never reach
# it. Names that only DNS could answer (127.0.0.1.nip.io) cannot be resolved offline.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0x7f000001",
    "0177.0.0.1",
    "017700000001",
    "127.0.0.1.",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "localhost",
    "LocalHost",
    "foo.localhost",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
async def test_untrusted_fetch_never_reaches_loopback_in_any_spelling(
    server: FeedServer, host: str, new_fetcher: MakeFetcher
) -> None:
    server.set_feed("/feed.xml", FEED)

    async with new_fetcher() as guarded:
        result = await guarded.fetch(f"http://{host}:{server.port}/feed.xml")

    assert result.error is not None and result.error.startswith("refused: ")
    assert result.status == 0
    assert server.requests == []


@pytest.fixture
def internal() -> Iterator[FeedServer]:
    """A second machine: a server on 127.0.0.2, as private as any intranet host."""
    with FeedServer(host="127.0.0.2") as running:
        running.set_feed("/secret.xml", FEED)
        yield running


@pytest.fixture
def public_127_0_0_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the guard take 127.0.0.1 for a public address, the stand-in for a public feed
    site (the only servers a test may reach are on loopback); all else is judged as usual."""
    real = guard.is_public_address
    stand_in = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(guard, "is_public_address", lambda a: a == stand_in or real(a))


@pytest.mark.usefixtures("public_127_0_0_1")
async def test_the_public_stand_in_is_fetched(server: FeedServer, new_fetcher: MakeFetcher) -> None:
    server.set_feed("/feed.xml", FEED)

    async with new_fetcher() as guarded:
        result = await guarded.fetch(server.url("/feed.xml"))

    assert result.ok


@pytest.mark.usefixtures("public_127_0_0_1")
@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/secret.xml",
        "//127.0.0.2:{port}/secret.xml",  # scheme-relative Location
        "http://2130706434:{port}/secret.xml",
        "http://0x7f.0.0.2:{port}/secret.xml",
        "http://[::ffff:127.0.0.2]:{port}/secret.xml",
        "http://localhost:{port}/secret.xml",
    ],
)
async def test_redirect_from_a_public_site_to_a_private_address_is_refused(
    server: FeedServer, internal: FeedServer, target: str, new_fetcher: MakeFetcher
) -> None:
    server.redirect("/feed.xml", target.format(port=internal.port))

    async with new_fetcher() as guarded:
        result = await guarded.fetch(server.url("/feed.xml"))

    assert result.error is not None and result.error.startswith(
        "refused: That address points to a private network ("
    )
    assert server.request_count("/feed.xml") == 1
    assert internal.requests == []


async def test_connections_for_trusted_fetches_are_not_reused_for_untrusted_ones(
    internal: FeedServer, new_fetcher: MakeFetcher
) -> None:
    async with new_fetcher() as fetcher:
        trusted = await fetcher.fetch(internal.url("/secret.xml"), trusted=True)
        untrusted = await fetcher.fetch(internal.url("/secret.xml"))

    assert trusted.ok
    assert untrusted.error is not None and untrusted.error.startswith("refused: ")
    assert internal.request_count("/secret.xml") == 1


async def test_redirect_to_another_scheme_is_refused_even_when_trusted(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.redirect("/feed.xml", "file:///etc/passwd")

    result = await fetcher.fetch(server.url("/feed.xml"), trusted=True)

    assert result.error == "refused: Only http and https addresses can be followed."


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("not a url", "refused: That address contains spaces or control characters."),
        ("ftp://example.com/feed", "refused: Only http and https addresses can be followed."),
        ("http://ⓐ.example/", "refused: invalid address"),  # bad IDNA: no DNS asked
    ],
)
async def test_bad_url_is_an_error_not_an_exception(fetcher: Fetcher, url: str, error: str) -> None:
    result = await fetcher.fetch(url)

    assert result.error is not None and result.error.startswith(error)


async def test_closed_port_is_an_error_not_an_exception(fetcher: Fetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there

    result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")

    assert result.error is not None and result.error.startswith("could not connect")
    assert result.status == 0


async def test_a_client_passed_in_is_left_open(
    server: FeedServer, new_fetcher: MakeFetcher
) -> None:
    server.set_feed("/feed.xml", FEED)
    async with httpx.AsyncClient(follow_redirects=True) as client:
        async with new_fetcher(client=client, allow_private_networks=True) as fetcher:
            server.redirect("/old.xml", "/feed.xml")
            result = await fetcher.fetch(server.url("/old.xml"))
        assert not client.is_closed

    # The Fetcher follows redirects itself even when the client was told to.
    assert result.permanent_redirect == server.url("/feed.xml")


async def test_a_non_ascii_etag_is_kept_but_not_sent_back(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set_feed("/feed.xml", FEED, etag='"caf\u00e9"')  # sent as Latin-1, as servers do

    first = await fetcher.fetch(server.url("/feed.xml"))
    second = await fetcher.fetch(server.url("/feed.xml"), etag=first.etag)

    assert first.ok and first.etag == '"caf\u00e9"'
    assert second.ok and "if-none-match" not in server.requests[-1][1]


class RawServer:
    """A server on 127.0.0.1 that answers every request with canned bytes, for what
    FeedServer will not do: break HTTP, and keep connections open (it counts them).

    The answer goes out in `parts`, `pause` seconds apart; `hang_up` closes the connection
    after answering (with no parts: instead of answering).
    """

    def __init__(self, *parts: bytes, hang_up: bool = False, pause: float = 0.05) -> None:
        self.connections = 0
        self.requests = 0
        self._parts = parts
        self._hang_up = hang_up
        self._pause = pause
        self._server: asyncio.Server | None = None

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}{path}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                for n, part in enumerate(self._parts):
                    if n:
                        await asyncio.sleep(self._pause)
                    writer.write(part)
                    await writer.drain()
                if self._hang_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    "parts",
    [
        (),  # hangs up instead of answering
        (b"garbage garbage\r\n\r\n",),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",),  # hangs up mid-body
    ],
    ids=["hang-up", "garbage", "short-body"],
)
async def test_a_server_breaking_the_exchange_is_named_as_such(
    fetcher: Fetcher, parts: tuple[bytes, ...]
) -> None:
    """Not "timed out": httpx-aiohttp reports aiohttp's every connection error as a
    ConnectTimeout, and lets a malformed answer's exception through as aiohttp's own."""
    async with RawServer(*parts, hang_up=True) as broken:
        result = await fetcher.fetch(broken.url("/feed.xml"))

    assert result.error is not None
    assert result.error.startswith("the server broke the HTTP exchange ("), result.error
    assert result.status == 0 and "\n" not in result.error and len(result.error) < 200


async def test_a_long_header_is_no_reason_to_fail(fetcher: Fetcher) -> None:
    """aiohttp's own limit is 8190 bytes a header; a big Content-Security-Policy is not
    rare."""
    policy = b"default-src 'self' " + b"https://cdn.example " * 1000  # 20 KB
    answer = b"HTTP/1.1 200 OK\r\nContent-Security-Policy: " + policy + b"\r\n"
    async with RawServer(answer + b"Content-Length: 2\r\n\r\nok") as server:
        result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.ok and result.content == b"ok"


@pytest.mark.parametrize(
    "parts",
    [
        (b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n',),
        # an error page whose end comes later: read to the end, the connection stays usable
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2000\r\n\r\n" + b"x" * 1000,
            b"x" * 1000,
        ),
    ],
    ids=["304", "404-page"],
)
async def test_feeds_on_one_host_share_a_kept_alive_connection(
    fetcher: Fetcher, parts: tuple[bytes, ...]
) -> None:
    async with RawServer(*parts) as keeps_alive:
        results = [
            await fetcher.fetch(keeps_alive.url(f"/feed{n}.xml"), etag='"v1"') for n in range(3)
        ]

    assert all(result.status in (304, 404) for result in results)
    assert (keeps_alive.requests, keeps_alive.connections) == (3, 1)


@pytest.mark.usefixtures("public_127_0_0_1")
async def test_closing_the_fetcher_closes_its_connection_pools(
    server: FeedServer,
    new_fetcher: MakeFetcher,
    recwarn: pytest.WarningsRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.set_feed("/feed.xml", FEED)
    fetcher = new_fetcher()
    assert (await fetcher.fetch(server.url("/feed.xml"), trusted=True)).ok
    assert (await fetcher.fetch(server.url("/feed.xml"))).ok  # the guarded client too

    await fetcher.aclose()
    del fetcher
    gc.collect()  # an aiohttp session left open says so when it is collected

    assert [str(w.message) for w in recwarn if "Unclosed" in str(w.message)] == []
    assert "Unclosed" not in caplog.text


@pytest.mark.usefixtures("public_127_0_0_1")
async def test_proxies_from_the_environment_are_ignored(
    server: FeedServer, new_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a proxy, the address the guard checked would not be the one connected to."""
    server.set_feed("/feed.xml", FEED)
    with FeedServer() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy.url(""))
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with new_fetcher() as guarded:
            result = await guarded.fetch(server.url("/feed.xml"))

    assert result.ok
    assert proxy.requests == []


async def test_the_operators_feeds_go_through_the_environments_proxy(
    server: FeedServer, new_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot behind a proxy reaches its own feeds through it, as httpx alone would."""
    with FeedServer() as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url(""))
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with new_fetcher() as fetcher:
            await fetcher.fetch(server.url("/feed.xml"), trusted=True)
        assert proxy.requests  # the request went to the proxy, not to the feed server
    assert server.requests == []
