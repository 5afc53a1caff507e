"""Refuse feed URLs that would turn the bot into a probe of private networks (SSRF).

Anyone in a chat can ask the bot to follow a URL, so before fetching one we check that it is
plain http(s) and that every address its host resolves to is publicly routable.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it through a
# translator; the address they really lead to is the embedded one.
_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UnsafeURLError(ValueError):
    """A URL the bot will not fetch; `str()` is a sentence meant for the chat user."""


def check_url(url: str) -> str:
    """Check the syntax of a feed URL and return it stripped; no network is involved."""
    url = url.strip()
    if not url:
        raise UnsafeURLError("The address is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURLError(
            f"That address is too long (the limit is {MAX_URL_LENGTH} characters)."
        )
    # For ASCII, printable means neither control characters nor DEL (the common case, in
    # a fraction of the time of the loop over characters).
    plain = url.isascii() and url.isprintable() and " " not in url
    if not plain and any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise UnsafeURLError("That address contains spaces or control characters.")
    if "\\" in url:  # parsers disagree on what a backslash means; no real feed URL has one
        raise UnsafeURLError("That address is not a valid web address.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UnsafeURLError("That address is not a valid web address.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURLError("Only http and https addresses can be followed.")
    if "@" in parts.netloc:
        raise UnsafeURLError(
            "Addresses with a user name or password (user:pass@) are not accepted."
        )
    if not parts.hostname:
        raise UnsafeURLError("That address has no host name.")
    return url


def is_public_address(address: IPAddress) -> bool:
    """True when `address` is globally routable, looking through IPv6 forms that embed IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    # `is_global` alone lets multicast through (224.0.0.0/4 is not in the private table).
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4, Teredo, NAT64 or IPv4-compatible form reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where packets end up
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # ::/128 and ::1 are not IPv4
        return ipaddress.IPv4Address(int(address))
    return None


def ensure_public(address: IPAddress) -> None:
    """Raise UnsafeURLError unless `address` is public (is_public_address)."""
    if not is_public_address(address):
        raise UnsafeURLError(_private_network(str(address)))


async def check_public(url: str) -> None:
    """Raise UnsafeURLError unless every address the URL's host resolves to is public.

    The host goes through the same resolver the connection will use, so numeric spellings
    such as `2130706433`, `0x7f.0.0.1` or `0177.0.0.1` are judged by what they really reach.
    """
    parts = urlsplit(check_url(url))
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    await resolve_public(parts.hostname or "", port)


async def resolve_public(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` resolves to, or UnsafeURLError when any of them is not public.

    One answer with a private address taints the name: a connection may use any of them.
    Connecting to exactly these addresses (bot.sources.transport) leaves DNS no second
    chance to answer differently. An IP-literal host is judged by what it spells
    (getaddrinfo reads `2130706433` as 127.0.0.1 without asking DNS).
    """
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise UnsafeURLError(_private_network(host))  # RFC 6761: always loopback, never ask DNS
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURLError(f"The host {host} could not be found.") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:  # the zone id ("%eth0") of a link-local v6 address is dropped
        ensure_public(address)
    return list(dict.fromkeys(addresses))


def _private_network(where: str) -> str:
    return f"That address points to a private network ({where}), which this bot does not fetch."
