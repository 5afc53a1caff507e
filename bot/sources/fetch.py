"""Download feeds over HTTP without ever raising for network trouble, and politely.

The scheduler polls hundreds of feeds; one dead site must cost a log line, not a crash, so
every problem comes back as `FetchResult.error`. Redirects are followed here rather than by
httpx so that each hop is checked; untrusted fetches go through their own client, whose
connections are made only to addresses the private-network guard checked (transport.py).
Politeness: gzip and brotli, at most `per_host` requests in flight to one host, connections
kept alive between the feeds of one host, and the server's Retry-After and Cache-Control
max-age handed to the scheduler.

The API is httpx's; underneath, by default, aiohttp (httpx-aiohttp's transport): a
conditional GET answered 304 costs about a quarter of the CPU it costs in httpx's own
connection pool (figures in transport.py), and most polls of hundreds of feeds are 304s.
aiohttp speaks only HTTP/1.1, so HTTP/2 is opt-in: `Fetcher(http2=True)` (setting HTTP2)
keeps httpx's own transport, HTTP/2 where the server offers it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urljoin

import aiohttp
import httpx

from bot.sources.guard import UnsafeURLError, check_url
from bot.sources.transport import aiohttp_transport, guarded_transport

DEFAULT_USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_PERMANENT = frozenset({301, 308})
_DRAIN_LIMIT = 64 * 1024
_THROTTLED = frozenset({429, 503})
_BODILESS = frozenset({204, 304})  # no body by definition (RFC 9110)


@dataclass(frozen=True)
class FetchResult:
    """What one fetch produced: a body, a 304, or a short human-readable `error`."""

    url: str  # the final URL, after redirects
    status: int  # 0 when no HTTP response was received
    content: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # where 301/308 hops from the start moved the feed
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    retry_after: float | None = None  # seconds the server asked to wait (429/503)
    max_age: float | None = None  # seconds the answer stays fresh (Cache-Control, 200/304)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        """True when `content` holds a fresh body (a 304 is not ok: there is nothing to parse)."""
        return self.error is None and 200 <= self.status < 300


class Fetcher:
    """Shares httpx clients across fetches; use as `async with Fetcher() as fetcher:`.

    `timeout` bounds each whole fetch, redirects and body included, even with a client
    passed in; `allow_private_networks` turns the guard off for every URL (local testing).
    A `client` passed in serves trusted fetches only; untrusted ones always use the guarded
    client, so that a connection opened for a trusted URL is never reused for them.
    `http2` uses httpx's own transport (HTTP/2 where offered) instead of aiohttp's.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        allow_private_networks: bool = False,
        max_bytes: int = 10 * 1024 * 1024,
        timeout: float = 20.0,
        max_redirects: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
        per_host: int = 2,
        http2: bool = False,
    ) -> None:
        self._owns_client = client is None
        # httpcore keeps a connection only once it has read the (empty) body of a 304;
        # aiohttp knows there is none, and draining it cost a tenth of a 304's CPU.
        self._drains_bodiless = http2 or client is not None

        def new_client(guarded: bool) -> httpx.AsyncClient:
            transport: httpx.AsyncBaseTransport | None
            # Environment proxies and certificates apply to the trusted client only.
            if http2:  # httpx's own transport
                transport = guarded_transport(http2=True) if guarded else None
            else:  # at most per_host connections to a host, as requests (_host_slot)
                transport = aiohttp_transport(guarded=guarded, per_host=per_host)
            return httpx.AsyncClient(
                transport=transport, http2=http2, follow_redirects=False, timeout=timeout
            )

        self._client = client or new_client(guarded=False)
        self._guarded = None if allow_private_networks else new_client(guarded=True)
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._per_host = per_host
        # Weak values: a host's semaphore lives while a fetch holds it, then goes, so the
        # table does not grow with every host ever polled.
        self._hosts: weakref.WeakValueDictionary[str, asyncio.Semaphore] = (
            weakref.WeakValueDictionary()
        )
        self._host_waits: dict[str, float] = {}  # "host:port" -> when it may be asked again

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = False,
    ) -> FetchResult:
        """GET `url` (conditionally when validators are given); never raises for I/O trouble.

        `trusted` skips the private-network check, for URLs the operator configured.
        """
        headers = {"User-Agent": self._user_agent, "Accept": ACCEPT}
        # Validators come from earlier responses; a non-ASCII one (a broken server) cannot be
        # sent back as a header, so it is dropped and the fetch is simply unconditional.
        if etag and etag.isascii():
            headers["If-None-Match"] = etag
        if last_modified and last_modified.isascii():
            headers["If-Modified-Since"] = last_modified
        client = self._client if trusted or self._guarded is None else self._guarded
        try:
            # One deadline for the whole exchange: httpx's timeouts are per read, so a server
            # dripping a byte at a time would otherwise never time out.
            async with asyncio.timeout(self._timeout):
                return await self._follow(client, url, headers, etag, last_modified)
        except TimeoutError:
            return FetchResult(url=url, status=0, error=f"timed out after {self._timeout:g} s")
        except UnsafeURLError as exc:
            return FetchResult(url=url, status=0, error=f"refused: {exc}")
        except httpx.InvalidURL as exc:
            return FetchResult(url=url, status=0, error=f"refused: invalid address ({exc})")
        # aiohttp's ClientResponseError (a malformed answer) comes through httpx-aiohttp as is.
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            return FetchResult(url=url, status=0, error=_describe(exc, self._timeout))

    async def _follow(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        """Walk the redirect chain by hand, checking every hop, and read the final answer."""
        permanent: str | None = None
        all_permanent = True
        for _ in range(self._max_redirects + 1):
            # Parsed here once: given a string, httpx parses it more than once (50 us).
            request = client.build_request("GET", httpx.URL(check_url(url)), headers=headers)
            url = str(request.url)
            origin = request.url.netloc.decode("ascii")
            if waiting := self._told_to_wait(origin):
                return FetchResult(
                    url=url,
                    status=0,
                    retry_after=waiting,
                    error=f"{origin} asked us to wait (HTTP 429 or 503): not polled until then",
                )
            async with self._host_slot(request.url.host):
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    if response.has_redirect_location:  # not is_redirect: that includes 304
                        url = urljoin(url, response.headers["location"])
                        all_permanent = all_permanent and response.status_code in _PERMANENT
                        if all_permanent:
                            permanent = url
                        await _drain(response)
                        continue
                    result = await self._result(response, url, permanent, etag, last_modified)
                    if self._drains_bodiless or response.status_code not in _BODILESS:
                        await _drain(response)
                    if result.retry_after:
                        self._wait_for(origin, result.retry_after)
                    return result
                finally:
                    await response.aclose()
        return FetchResult(
            url=url,
            status=0,
            permanent_redirect=permanent,
            error=f"too many redirects (more than {self._max_redirects})",
        )

    async def _result(
        self,
        response: httpx.Response,
        url: str,
        permanent: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        """Turn the final response into a FetchResult, reading the body only when it is a 2xx."""
        status = response.status_code
        headers = response.headers
        result = FetchResult(
            url=url,
            status=status,
            # A 304 may omit the validators; the ones we sent are still the current ones.
            etag=response.headers.get("etag") or (etag if status == 304 else None),
            last_modified=response.headers.get("last-modified")
            or (last_modified if status == 304 else None),
            permanent_redirect=permanent,
            headers=dict(headers.items()),  # dict(headers) looks each name up again
            max_age=_max_age(headers) if status == 304 or 200 <= status < 300 else None,
            retry_after=_retry_after(headers) if status in _THROTTLED else None,
        )
        if status == 304:
            return result
        if not 200 <= status < 300:
            return replace(result, error=f"HTTP {status} {response.reason_phrase}".rstrip())
        too_big = f"response larger than {_size(self._max_bytes)}"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            return replace(result, error=too_big)
        chunks: list[bytes] = []
        size = 0
        # Counted after gzip decoding, so a compression bomb hits the cap too.
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                return replace(result, error=too_big)
            chunks.append(chunk)
        return replace(result, content=b"".join(chunks))

    def _wait_for(self, origin: str, seconds: float) -> None:
        """A 429 or 503 with Retry-After speaks for the whole server (host and port): every
        feed on it waits (many search feeds share one search engine)."""
        now = time.monotonic()
        self._host_waits = {o: t for o, t in self._host_waits.items() if t > now}
        self._host_waits[origin] = max(self._host_waits.get(origin, now), now + seconds)

    def _told_to_wait(self, origin: str) -> float | None:
        """Seconds the server at `origin` still asked us to wait, if any."""
        remaining = self._host_waits.get(origin, 0.0) - time.monotonic()
        return remaining if remaining > 0 else None

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        """The semaphore that keeps at most `per_host` requests in flight to `host`."""
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self._per_host)
        return slot

    async def aclose(self) -> None:
        """Close the clients this Fetcher created; a client passed in stays open."""
        if self._guarded is not None:
            await self._guarded.aclose()
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _drain(response: httpx.Response) -> None:
    """Read the rest of a small unread body (a 304's, a redirect's, an error page's): httpcore
    closes a connection whose response was not read to the end, and a feed polled every few
    minutes would then pay a new connection for every 304."""
    if response.is_stream_consumed:
        return
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return  # not worth it: let the connection close


def _retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds from now: a number of seconds, or an HTTP date, measured from
    the response's own Date header when it has one so that clock skew does not count."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(headers["date"]) if "date" in headers else None
    except (TypeError, ValueError, IndexError):
        return None
    now = sent if sent is not None and sent.tzinfo else datetime.now(UTC)
    return max(0.0, (until - now).total_seconds()) if until.tzinfo else None


def _max_age(headers: httpx.Headers) -> float | None:
    """Seconds the response stays fresh: Cache-Control max-age less its Age, if any."""
    directives = {}
    for directive in headers.get("cache-control", "").lower().split(","):
        name, _, value = directive.strip().partition("=")
        directives[name] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    max_age, age = directives.get("max-age", ""), headers.get("age", "").strip()
    if not max_age.isdigit():
        return None
    return max(0.0, float(max_age) - (float(age) if age.isdigit() else 0.0))


def _describe(exc: Exception, timeout: float) -> str:
    """A short reason for a transport failure, without the libraries' class names.

    On the aiohttp path the aiohttp exception decides, not the httpx one made of it:
    httpx-aiohttp turns every aiohttp connection error into httpx.ConnectTimeout, so a
    refused connection or a server hanging up would otherwise read as a timeout.
    """
    if isinstance(exc.__cause__, aiohttp.ClientError):
        exc = exc.__cause__
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser's multi-line complaint
        detail = " ".join(exc.message.split())
        detail = detail if len(detail) <= 100 else detail[:99] + "…"
    elif isinstance(exc, aiohttp.ClientConnectorError):  # the OS's reason, as httpcore says
        detail = str(exc.os_error) or type(exc.os_error).__name__
    else:
        detail = str(exc) or type(exc).__name__
    if isinstance(exc, (httpx.TimeoutException, aiohttp.ServerTimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, (httpx.ConnectError, aiohttp.ClientConnectorError)):
        return f"could not connect ({detail})"
    if isinstance(exc, aiohttp.InvalidURL):  # `127.1`: aiohttp takes only dotted quads
        return f"refused: invalid address ({detail})"
    if isinstance(exc, httpx.DecodingError):
        return f"could not decode the response ({detail})"
    if isinstance(
        exc,
        (
            httpx.RemoteProtocolError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,
        ),
    ):
        return f"the server broke the HTTP exchange ({detail})"
    return f"network error ({detail})"


def _size(n: int) -> str:
    """10485760 -> "10 MB", 100000 -> "97.7 KB"; tiny caps (tests) stay in bytes."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{round(n / scale, 1):g} {unit}"
    return f"{n} bytes"
