"""Connect-time guard: the address connected to is the address the guard checked.

A DNS-rebinding attack needs a second lookup that answers differently from the first; the
only way to show there is none, offline, is a resolver stub that would answer differently
and a network backend stub that records where it was asked to connect (and connects
nowhere). Real sockets are covered by the SSRF tests in test_fetch.py.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx
import pytest

from bot.sources.guard import UnsafeURLError
from bot.sources.transport import guarded_transport

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
        self._refuse = set(refuse)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host in self._refuse:
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


async def get(url: str, backend: RecordingBackend) -> httpx.Response:
    async with httpx.AsyncClient(transport=guarded_transport(inner=backend)) as client:
        return await client.get(url)


async def test_rebinding_name_is_connected_to_the_address_that_was_checked(
    answers: list[list[str]],
) -> None:
    answers += [[PUBLIC_V4], ["127.0.0.1"]]  # a second lookup would answer with loopback
    backend = RecordingBackend()

    response = await get("http://rebind.example/feed.xml", backend)

    assert response.text == "ok"
    assert backend.connects == [(PUBLIC_V4, 80)]  # the checked address, never the name
    assert answers == [["127.0.0.1"]]  # one lookup only: no second answer was asked for
    assert b"Host: rebind.example\r\n" in backend.written


async def test_tls_names_the_host_though_the_address_is_connected_to(
    answers: list[list[str]],
) -> None:
    answers.append([PUBLIC_V4])
    backend = RecordingBackend()

    await get("https://feeds.example/rss", backend)

    assert backend.connects == [(PUBLIC_V4, 443)]
    assert backend.tls_names == ["feeds.example"]  # SNI and certificate check use the name


async def test_a_private_answer_among_public_ones_refuses_before_connecting(
    answers: list[list[str]],
) -> None:
    answers.append([PUBLIC_V4, "10.0.0.7"])
    backend = RecordingBackend()

    with pytest.raises(UnsafeURLError, match=r"\(10\.0\.0\.7\)"):
        await get("http://mixed.example/", backend)

    assert backend.connects == []


async def test_next_checked_address_is_tried_when_one_fails(answers: list[list[str]]) -> None:
    answers.append([PUBLIC_V6, PUBLIC_V4])
    backend = RecordingBackend(refuse=[PUBLIC_V6])

    response = await get("http://dual.example/", backend)

    assert response.status_code == 200
    assert backend.connects == [(PUBLIC_V6, 80), (PUBLIC_V4, 80)]


async def test_localhost_names_are_refused_without_a_lookup(answers: list[list[str]]) -> None:
    backend = RecordingBackend()

    with pytest.raises(UnsafeURLError, match="private network"):
        await get("http://api.localhost/", backend)

    assert backend.connects == []
