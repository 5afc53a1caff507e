"""Fetcher against a real HTTP server on 127.0.0.1 (tests.fakes.feed_server)."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.sources import fetch as fetch_module
from bot.sources import guard
from bot.sources.fetch import DEFAULT_USER_AGENT, Fetcher
from tests.fakes.feed_server import FeedServer, rss

FEED = rss([{"title": "Drills announced", "link": "https://news.example.com/1", "guid": "1"}])
LAST_MODIFIED = "Mon, 04 Mar 2024 10:00:00 GMT"
PRIVATE_REFUSAL = (
    "refused: That address points to a private network (127.0.0.1), which this bot does not fetch."
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """A Fetcher that may reach 127.0.0.1, like one whose feeds the operator configured."""
    async with Fetcher(allow_private_networks=True, timeout=5) as local:
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


async def test_slow_server_times_out(server: FeedServer) -> None:
    server.set_feed("/slow.xml", FEED, delay=3)
    started = time.monotonic()

    async with Fetcher(allow_private_networks=True, timeout=0.3) as impatient:
        result = await impatient.fetch(server.url("/slow.xml"))

    assert result.error == "timed out after 0.3 s"
    assert result.status == 0 and not result.ok
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
async def test_body_over_the_cap_is_refused(server: FeedServer, declare_length: bool) -> None:
    server.set_stream("/huge.xml", 1024 * 1024, declare_length=declare_length)

    async with Fetcher(allow_private_networks=True, max_bytes=64 * 1024) as capped:
        result = await capped.fetch(server.url("/huge.xml"))

    assert result.error == "response larger than 64 KB"
    assert result.content == b"" and not result.ok


async def test_gzip_body_is_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    server.set_feed("/feed.xml", gzip.compress(FEED.encode()), headers={"Content-Encoding": "gzip"})

    result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.content == FEED.encode()


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


async def test_redirect_loop_gives_up(server: FeedServer) -> None:
    server.redirect("/ping", "/pong")
    server.redirect("/pong", "/ping")

    async with Fetcher(allow_private_networks=True, max_redirects=3) as fetcher:
        result = await fetcher.fetch(server.url("/ping"))

    assert result.error == "too many redirects (more than 3)"
    assert len(server.requests) == 4


async def test_untrusted_private_url_is_refused_before_any_request(server: FeedServer) -> None:
    server.set_feed("/feed.xml", FEED)

    async with Fetcher() as guarded:
        result = await guarded.fetch(server.url("/feed.xml"))

    assert result.error == PRIVATE_REFUSAL
    assert result.status == 0
    assert server.request_count("/feed.xml") == 0


async def test_trusted_private_url_is_fetched(server: FeedServer) -> None:
    server.set_feed("/feed.xml", FEED)

    async with Fetcher() as guarded:
        result = await guarded.fetch(server.url("/feed.xml"), trusted=True)

    assert result.ok
    assert server.request_count("/feed.xml") == 1


@pytest.mark.parametrize("location", ["absolute", "relative"])
async def test_redirect_to_a_private_address_is_refused(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    """A public first hop that redirects inside the network must not be followed.

    The only server a test may reach is on 127.0.0.1, so the guard is told that this one
    starting URL is public; every other URL still goes through the real check.
    """
    start = server.url("/public.xml")
    server.redirect(
        "/public.xml", server.url("/internal") if location == "absolute" else "/internal"
    )
    server.set_feed("/internal", FEED)

    async def start_is_public(url: str) -> None:
        if url != start:
            await guard.check_public(url)

    monkeypatch.setattr(fetch_module, "check_public", start_is_public)
    async with Fetcher() as guarded:
        result = await guarded.fetch(start)

    assert result.error == PRIVATE_REFUSAL
    assert server.request_count("/public.xml") == 1
    assert server.request_count("/internal") == 0


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


async def test_a_client_passed_in_is_left_open(server: FeedServer) -> None:
    server.set_feed("/feed.xml", FEED)
    async with httpx.AsyncClient(follow_redirects=True) as client:
        async with Fetcher(client=client, allow_private_networks=True) as fetcher:
            server.redirect("/old.xml", "/feed.xml")
            result = await fetcher.fetch(server.url("/old.xml"))
        assert not client.is_closed

    # The Fetcher follows redirects itself even when the client was told to.
    assert result.permanent_redirect == server.url("/feed.xml")
