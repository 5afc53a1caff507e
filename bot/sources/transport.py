"""HTTP transports for the Fetcher: connect only to addresses the private-network guard checked.

Checking a host name and then letting the HTTP client resolve it again leaves a window: a
hostile name server answers the check with a public address and the connection with
127.0.0.1. Here the check and the connection share one resolution, on either transport:

- by default, httpx over aiohttp (`aiohttp_transport`; httpx-aiohttp's transport on a
  session of our own). A conditional GET answered 304 costs about 0.5 ms of CPU this way,
  against 1.9 ms with httpx's own pool (httpcore), whose pool scans every connection on
  every request (3.3 ms with 200 kept-alive connections); aiohttp has no HTTP/2 client.
  The guarded session resolves through `GuardedResolver`, and every socket it connects is
  checked once more by `_checked_socket`. aiohttp connects to an IP-literal host without
  asking its resolver, so `GuardedAiohttpTransport` judges such a host before the request.
- with HTTP/2 (`Fetcher(http2=True)`), httpx's own transport, whose httpcore network
  backend (`GuardedBackend`) resolves, refuses the name if any answer is private, and
  connects to a checked address itself.

TLS still names the host (SNI and certificate check) on both: aiohttp and httpcore start
TLS with the origin's host name, not with the address connected to. Proxies from the
environment are ignored: through a proxy, the address checked would not be the address
connected to.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from typing import TYPE_CHECKING

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from httpx_aiohttp import AiohttpTransport

from bot.sources.guard import UnsafeURLError, ensure_public, resolve_public

if TYPE_CHECKING:
    from aiohappyeyeballs import AddrInfoType

# Idle connections are kept this long, so that the feeds on one host polled in one round
# share a connection; servers close theirs after 5-75 s anyway. Resolved addresses are
# kept as long (aiohttp's default is 10 s).
KEEPALIVE = 30.0
DNS_CACHE = 30
MAX_CONNECTIONS = 100  # in use at once, per session (aiohttp's default)
# aiohttp refuses a response header longer than 8190 bytes; a big Content-Security-Policy
# or Set-Cookie should not cost a feed (httpcore takes up to 100 KB of headers in all).
MAX_HEADER = 32 * 1024
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


# -- the default: httpx over aiohttp -----------------------------------------------------------


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that answers only with public addresses (guard.resolve_public);
    UnsafeURLError goes through aiohttp and httpx-aiohttp unwrapped."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=_NUMERIC,
            )
            for address in await resolve_public(host, port)
        ]

    async def close(self) -> None:
        pass


def _checked_socket(addr_info: AddrInfoType) -> socket.socket:
    """The guarded session's socket factory: the last word on where it connects, whatever
    the resolver or an IP-literal host said."""
    family, kind, proto, _, sockaddr = addr_info
    where = str(sockaddr[0])
    try:
        address = ipaddress.ip_address(where.split("%", 1)[0])
    except ValueError:
        raise UnsafeURLError(f"That address ({where}) is not a valid web address.") from None
    ensure_public(address)
    return socket.socket(family, kind, proto)


def client_session(
    *,
    guarded: bool = False,
    per_host: int = 2,
    limit: int = MAX_CONNECTIONS,
    ssl_context: ssl.SSLContext | None = None,
) -> aiohttp.ClientSession:
    """The aiohttp session under one transport (call it inside the running event loop).

    No cookie jar: httpx keeps the cookies, as it does over its own transport. A trusted
    session follows the environment as httpx does (HTTP(S)_PROXY, NO_PROXY, SSL_CERT_FILE);
    a guarded one never: through a proxy, the address checked is not the one connected to.
    aiohttp reads the proxy variables again for every request (0.7 ms of CPU, more than
    the rest of a 304), so it is asked to only when one is set.
    """
    guard: dict[str, object] = (
        {"resolver": GuardedResolver(), "socket_factory": _checked_socket} if guarded else {}
    )
    connector = aiohttp.TCPConnector(
        limit=limit,
        limit_per_host=per_host,
        keepalive_timeout=KEEPALIVE,
        ttl_dns_cache=DNS_CACHE,
        ssl=ssl_context or httpx.create_ssl_context(trust_env=not guarded),
        **guard,  # type: ignore[arg-type]
    )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=not guarded and bool(urllib.request.getproxies()),
        cookie_jar=aiohttp.DummyCookieJar(),
        max_field_size=MAX_HEADER,
    )


class GuardedAiohttpTransport(AiohttpTransport):
    """Refuses a request to a private IP-literal host before aiohttp sees it: aiohttp
    connects to those without asking its resolver, and turns down the numeric spellings
    (`2130706433`, `127.1`) with a message that does not say where they lead."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        if is_ip_address(host):  # aiohttp's own test for skipping the resolver
            await resolve_public(host, request.url.port or 0)
        return await super().handle_async_request(request)


def aiohttp_transport(
    *,
    guarded: bool = False,
    per_host: int = 2,
    limit: int = MAX_CONNECTIONS,
    ssl_context: ssl.SSLContext | None = None,
) -> AiohttpTransport:
    """An httpx transport over an aiohttp session of our own, made at the first request
    (aiohttp wants a running loop) and closed with the transport.

    At most `per_host` connections to one host (port and scheme), `limit` in all; TLS
    verified against httpx's certificates (certifi). `guarded` connects only to public
    addresses.
    """
    ssl_context = ssl_context or httpx.create_ssl_context(trust_env=not guarded)

    def session() -> aiohttp.ClientSession:
        return client_session(
            guarded=guarded, per_host=per_host, limit=limit, ssl_context=ssl_context
        )

    kind = GuardedAiohttpTransport if guarded else AiohttpTransport
    return kind(verify=ssl_context, client=session)


# -- HTTP/2: httpx's own transport (httpcore) --------------------------------------------------


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves through the guard; `inner` connects."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Raises UnsafeURLError for a host with any non-public address."""
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in await resolve_public(host, port):
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next address, as a resolver-driven connect would
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("untrusted fetches never use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    *,
    http2: bool = True,
    limits: httpx.Limits | None = None,
    inner: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every new connection goes through GuardedBackend.

    Proxies from the environment are ignored (`trust_env=False`).
    """
    limits = limits or httpx.Limits()
    transport = httpx.AsyncHTTPTransport(http2=http2, limits=limits, trust_env=False)
    # httpx 0.28 has no parameter for a network backend (encode/httpx#3749 adds one), so
    # the pool it built, still unused, is replaced by the same pool with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=http2,
        network_backend=GuardedBackend(inner),
    )
    return transport
