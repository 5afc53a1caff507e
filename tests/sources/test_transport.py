"""Connect-time guard: the address connected to is the address the guard checked.

A DNS-rebinding attack needs a second lookup that answers differently from the first; the
only way to show there is none, offline, is a resolver stub that would answer differently
and a network stub that records where it was asked to connect. On httpx's own transport
(HTTP/2) that stub is an httpcore network backend that connects nowhere; on the aiohttp
transport it is the event loop's `sock_connect`, which records the address and connects to
a FeedServer on 127.0.0.1 instead. Real sockets are covered by the SSRF tests in
test_fetch.py.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import httpcore
import httpx
import pytest

from bot.sources.guard import UnsafeURLError
from bot.sources.transport import aiohttp_transport, client_session, guarded_transport
from tests.fakes.feed_server import FeedServer

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class FakeStream(httpcore.AsyncNetworkStream):
    """Answers one HTTP/1.1 request with RESPONSE; records what was written and TLS names."""

    def __init__(self, backend: RecordingBackend) -> None:
        self._backend = backend
        self._unread = RESPONSE

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        chunk, self._unread = self._unread[:max_bytes], self._unread[max_bytes:]
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._backend.written += buffer

    async def aclose(self) -> None:
        pass

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self._backend.tls_names.append(server_hostname)
        return self


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Connects nowhere: records each (host, port) it is asked for; `refuse` fail to connect."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.connects: list[tuple[str, int]] = []
        self.tls_names: list[str | None] = []
        self.written = b""
        self.refuse = set(refuse)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError(f"{host} refused")
        return FakeStream(self)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture
async def answers(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[list[str]]]:
    """The resolver stub: each lookup pops the next list of addresses; lookups are counted
    by how many lists are gone."""
    queue: list[list[str]] = []

    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        addresses = queue.pop(0)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    yield queue


class Network(Protocol):
    """A stub network under one guarded transport: where it was asked to connect (host,
    port), the names TLS was started with, the Host headers it carried."""

    connects: list[tuple[str, int]]
    tls_names: list[str | None]
    refuse: set[str]  # addresses that fail to connect

    async def get(self, url: str) -> httpx.Response: ...

    def hosts_asked(self) -> list[str]: ...


class HttpcoreNetwork:
    """httpx's own transport over RecordingBackend."""

    def __init__(self) -> None:
        self.backend = RecordingBackend()
        self.connects = self.backend.connects
        self.tls_names = self.backend.tls_names
        self.refuse = self.backend.refuse

    async def get(self, url: str) -> httpx.Response:
        transport = guarded_transport(inner=self.backend)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(url)

    def hosts_asked(self) -> list[str]:
        lines = self.backend.written.decode().split("\r\n")
        return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Host:")]


class LoopNetwork:
    """The aiohttp transport, its sockets connected to `server` whatever address they were
    meant for; TLS is recorded, not started."""

    def __init__(self, server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.connects: list[tuple[str, int]] = []
        self.tls_names: list[str | None] = []
        self.refuse: set[str] = set()
        loop = asyncio.get_running_loop()
        real_connect, real_create = loop.sock_connect, loop.create_connection

        async def sock_connect(sock: socket.socket, address: tuple[Any, ...]) -> None:
            self.connects.append((address[0], address[1]))
            if address[0] in self.refuse:
                raise ConnectionRefusedError(f"{address[0]} refused")
            await real_connect(sock, (server.host, server.port))

        async def create_connection(*args: Any, **kwargs: Any) -> Any:
            if kwargs.pop("ssl", None):
                self.tls_names.append(kwargs.get("server_hostname"))
            kwargs.pop("server_hostname", None)
            return await real_create(*args, **kwargs)

        monkeypatch.setattr(loop, "sock_connect", sock_connect)
        monkeypatch.setattr(loop, "create_connection", create_connection)

    async def get(self, url: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=aiohttp_transport(guarded=True)) as client:
            return await client.get(url)

    def hosts_asked(self) -> list[str]:
        return [headers["host"] for _, headers in self.server.requests]


@pytest.fixture(params=["httpx-http2", "aiohttp"])
async def network(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Network]:
    if request.param == "httpx-http2":
        yield HttpcoreNetwork()
        return
    with FeedServer() as server:
        for path in ("/", "/feed.xml", "/rss"):
            server.set_feed(path, "ok")
        yield LoopNetwork(server, monkeypatch)


async def test_rebinding_name_is_connected_to_the_address_that_was_checked(
    answers: list[list[str]], network: Network
) -> None:
    answers += [[PUBLIC_V4], ["127.0.0.1"]]  # a second lookup would answer with loopback

    response = await network.get("http://rebind.example/feed.xml")

    assert response.text == "ok"
    assert network.connects == [(PUBLIC_V4, 80)]  # the checked address, never the name
    assert answers == [["127.0.0.1"]]  # one lookup only: no second answer was asked for
    assert network.hosts_asked() == ["rebind.example"]


async def test_tls_names_the_host_though_the_address_is_connected_to(
    answers: list[list[str]], network: Network
) -> None:
    answers.append([PUBLIC_V4])

    await network.get("https://feeds.example/rss")

    assert network.connects == [(PUBLIC_V4, 443)]
    assert network.tls_names == ["feeds.example"]  # SNI and certificate check use the name


async def test_a_private_answer_among_public_ones_refuses_before_connecting(
    answers: list[list[str]], network: Network
) -> None:
    answers.append([PUBLIC_V4, "10.0.0.7"])

    with pytest.raises(UnsafeURLError, match=r"\(10\.0\.0\.7\)"):
        await network.get("http://mixed.example/")

    assert network.connects == []


async def test_next_checked_address_is_tried_when_one_fails(
    answers: list[list[str]], network: Network
) -> None:
    answers.append([PUBLIC_V6, PUBLIC_V4])
    network.refuse.add(PUBLIC_V6)

    response = await network.get("http://dual.example/")

    assert response.status_code == 200
    assert network.connects == [(PUBLIC_V6, 80), (PUBLIC_V4, 80)]


async def test_localhost_names_are_refused_without_a_lookup(
    answers: list[list[str]], network: Network
) -> None:
    with pytest.raises(UnsafeURLError, match="private network"):
        await network.get("http://api.localhost/")

    assert network.connects == []


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"])
async def test_the_guarded_aiohttp_pool_itself_connects_to_public_addresses_only(
    feeds: FeedServer, host: str
) -> None:
    """aiohttp connects to an IP-literal host without asking the resolver; the transport
    refuses those before the request, and the pool's socket factory refuses them again,
    should a request reach it some other way."""
    feeds.set_feed("/feed.xml", "ok")
    async with client_session(guarded=True) as session:
        with pytest.raises(UnsafeURLError, match="private network"):
            await session.get(f"http://{host}:{feeds.port}/feed.xml")

    assert feeds.requests == []


async def test_a_trusted_session_reads_the_environment_only_when_a_proxy_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiohttp looks the proxy variables up again for every request, at more CPU than the
    rest of a 304: without any, it is not asked to; a guarded session never is."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with client_session() as plain:
        assert plain.trust_env is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    async with client_session() as proxied, client_session(guarded=True) as guarded:
        assert (proxied.trust_env, guarded.trust_env) == (True, False)
