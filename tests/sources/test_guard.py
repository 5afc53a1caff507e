"""The private-network guard: every spelling of a private address is refused, without DNS.

All hosts here are IP literals or `localhost`, which getaddrinfo answers without asking a
name server; the two tests that need a name resolved replace the loop's resolver.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.guard import (
    MAX_URL_LENGTH,
    UnsafeURLError,
    check_public,
    check_url,
    ensure_public,
    is_public_address,
)

PRIVATE_URLS = [
    "http://127.0.0.1/feed",
    "http://127.1/",  # short dotted form
    "http://2130706433/",  # one decimal number
    "http://0x7f.0.0.1/",  # hex part
    "http://0x7f000001/",  # one hex number
    "http://0177.0.0.1/",  # octal part
    "http://017700000001/",  # one octal number
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:a00:1]/",  # IPv4-mapped 10.0.0.1, hex spelling
    "http://[::127.0.0.1]/",  # deprecated IPv4-compatible
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[2002:c0a8:101::1]/",  # 6to4 around 192.168.1.1
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "http://localhost/",
    "http://LocalHost:8080/",
    "http://api.localhost/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
    "http://0.0.0.0/",
    "http://0/",
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.1/",  # documentation
    "http://[fe80::1]/",
    "http://[fec0::1]/",  # site-local, deprecated but never public
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[::]/",
    "https://[2001:db8::1]:8443/",
]

PUBLIC_URLS = [
    "http://93.184.216.34/",
    "https://8.8.8.8/feed.xml",
    "http://[2606:4700:4700::1111]/",
    "http://[::ffff:8.8.8.8]/",
    "http://[2002:808:808::1]/",  # 6to4 around a public address
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match=r"^That address points to a private network \("):
        await check_public(url)


@pytest.mark.parametrize("url", PUBLIC_URLS)
async def test_public_addresses_pass(url: str) -> None:
    await check_public(url)


async def test_refusal_names_the_address_in_a_sentence() -> None:
    with pytest.raises(UnsafeURLError) as caught:
        await check_public("http://2130706433/")
    assert str(caught.value) == (
        "That address points to a private network (127.0.0.1), which this bot does not fetch."
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "Only http and https addresses can be followed."),
        ("ftp://example.com/feed", "Only http and https addresses can be followed."),
        ("javascript:alert(1)", "Only http and https addresses can be followed."),
        ("gopher://example.com/", "Only http and https addresses can be followed."),
        ("example.com/feed", "Only http and https addresses can be followed."),
        ("http://user:secret@example.com/", "Addresses with a user name or password"),
        ("http://user@example.com/", "Addresses with a user name or password"),
        ("http:///feed.xml", "That address has no host name."),
        ("https://", "That address has no host name."),
        ("   ", "The address is empty."),
        ("http://example .com/", "That address contains spaces or control characters."),
        ("http://example.com/\x00", "That address contains spaces or control characters."),
        ("http://a.example\\@127.0.0.1/", "That address is not a valid web address."),
        ("http://example.com:99999/", "That address is not a valid web address."),
        ("http://[::1/", "That address is not a valid web address."),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, "That address is too long"),
    ],
)
def test_bad_syntax_is_refused_with_a_readable_reason(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url)
    assert str(caught.value).startswith(message)
    assert str(caught.value).endswith(".")


@settings(max_examples=300)
@given(st.one_of(st.text(), st.from_regex(r"\Ahttps?://[^/]{0,30}/?.{0,20}\Z")))
def test_check_url_only_ever_raises_unsafe_url_error(url: str) -> None:
    try:
        assert check_url(url) == url.strip()
    except UnsafeURLError as exc:
        assert str(exc).endswith(".")


def test_check_url_returns_the_url_stripped() -> None:
    assert check_url("  HTTPS://Example.com/feed?x=1 \n") == "HTTPS://Example.com/feed?x=1"


def test_unsafe_url_error_is_a_value_error() -> None:
    assert issubclass(UnsafeURLError, ValueError)


async def test_unresolvable_host_is_a_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    with pytest.raises(UnsafeURLError, match=r"^The host feeds\.example could not be found\.$"):
        await check_public("https://feeds.example/rss")


async def test_one_private_address_among_public_ones_is_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS can answer with several addresses; the connection may use any of them."""

    async def mixed(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", port, 0, 2)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", mixed)
    with pytest.raises(UnsafeURLError, match=r"\(fe80::1\)"):
        await check_public("https://rebind.example/rss")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("1.1.1.1", True),
        ("100.63.255.255", True),
        ("100.64.0.0", False),
        ("239.255.255.250", False),
        ("::ffff:1.1.1.1", True),
        ("::ffff:192.168.1.1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b::c0a8:101", False),
        ("2606:4700::1", True),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_ensure_public_refuses_with_the_same_sentence() -> None:
    """The transports' last check (every socket the guarded aiohttp pool connects)."""
    ensure_public(ipaddress.ip_address("93.184.216.34"))
    with pytest.raises(UnsafeURLError, match=r"^That address points to a private network \(::1\)"):
        ensure_public(ipaddress.ip_address("::1"))
