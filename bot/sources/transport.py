"""Connect only to addresses the private-network guard has checked (no DNS rebinding).

Checking a host name and then letting the HTTP client resolve it again leaves a window: a
hostile name server answers the check with a public address and the connection with
127.0.0.1. Here the check and the connection share one resolution: the network backend
resolves, refuses the name if any answer is private, and connects to a checked address
itself. TLS still names the host (SNI and certificate check), because httpcore starts TLS
on the stream with the origin's host name, not with the address connected to.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from bot.sources.guard import resolve_public


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

    Proxies from the environment are ignored (`trust_env=False`): through a proxy, the
    address checked would not be the address connected to.
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
