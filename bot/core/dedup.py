"""The keys a story is remembered by, so an article is alerted once however it reappears.

Feeds re-publish items with tracking parameters, http/https flips, a new guid or the same
link; a story is known by several keys and is new only when none of them was seen before.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from bot.core.article import Article
from bot.core.text import normalize

# Query parameters that only say where a click came from, never which page it is.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "mkt_tok",
        "_ga", "_gl", "_hsenc", "_hsmi", "ref_src", "ref_url", "ocid", "ncid",
        "cmpid", "s_cid", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "rb_clickid",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)

# Keys go into an indexed column (String(600)); longer ones keep a prefix and a hash.
MAX_KEY_LENGTH = 512
_HASH_LENGTH = 64  # sha256 hex digest

_HTTP = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 scheme followed by something: "tag:...", "urn:...", "http://...".
_ABSOLUTE_URI = re.compile(r"[a-z][a-z0-9+.-]*:\S", re.IGNORECASE)


def _is_tracking(parameter: str) -> bool:
    name = parameter.lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def _http_host(url: str) -> str | None:
    """The lower-cased host of an absolute http(s) URL with a valid port, else None."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _HTTP:
        return None
    return parts.hostname or None


@functools.lru_cache(maxsize=4096)  # asked for every item of a feed
def _feed_host(source_url: str) -> str:
    """What a feed's bare guids and titles are scoped by: its host, else its whole URL."""
    return _http_host(source_url.strip()) or source_url.strip().lower()


def canonical_url(url: str) -> str:
    """One spelling per page: the key that makes re-published links compare equal.

    w3lib sorts and re-encodes the query, lower-cases scheme and host and drops the fragment;
    on top, tracking parameters, default ports and a trailing slash go, and http becomes
    https because publishers switch between them for the same story. Anything that is not an
    http(s) URL comes back stripped, unchanged.
    """
    url = url.strip()
    if _http_host(url) is None:
        return url
    try:
        parts = urlsplit(canonicalize_url(url))
        port = parts.port
    except ValueError:  # e.g. a host IDNA cannot encode
        return url
    host = parts.hostname
    if not host:  # w3lib read it differently from urllib (e.g. "http://\\x"): not a web page
        return url
    scheme = parts.scheme  # already lower-cased by w3lib
    userinfo, at, _host = parts.netloc.rpartition("@")
    netloc = userinfo + at + (f"[{host}]" if ":" in host else host)
    # 443 goes too: the result is https, and keeping it would make the result not a fixpoint.
    if port not in (None, 443, _DEFAULT_PORTS[scheme]):
        netloc += f":{port}"
    query = "&".join(
        pair for pair in parts.query.split("&") if not _is_tracking(pair.partition("=")[0])
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", netloc, path, query, ""))


def _capped(key: str) -> str:
    """The key itself, or for a long one its head plus a hash of the whole, so it stays unique."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key[: MAX_KEY_LENGTH - _HASH_LENGTH - 1] + "#" + digest


HEADLINE_MIN_WORDS = 6  # shorter titles ("Weather", "Live updates") repeat across stories
# A news search feed names the publisher after its headlines: "Seoul should ... - Korea Herald".
_PUBLISHER_SUFFIX = re.compile(r"\s+[-\u2013\u2014|]\s+([^-\u2013\u2014|]{1,60})$")


def search_publisher(title: str) -> str | None:
    """The outlet a news search feed names after a headline ("... - Korea Herald")."""
    found = _PUBLISHER_SUFFIX.search(title.strip())
    return found.group(1).strip() if found else None


def outlet_name(source_title: str, headline: str, *, from_search: bool) -> str:
    """Who published an item: the feed's title, or for a news search the outlet it names."""
    if from_search:
        return search_publisher(headline) or source_title
    return source_title


def same_outlet(name: str, other: str) -> bool:
    """Whether two names are one outlet ("Korea Herald" and "The Korea Herald - National")."""
    a, b = normalize(name), normalize(other)
    return bool(a and b) and (f" {a} " in f" {b} " or f" {b} " in f" {a} ")


def headline_key(title: str, *, from_search: bool = False) -> str | None:
    """A key for a distinctive headline, so the same story under two links is one story.

    A search feed's " - Publisher" tail is dropped first; headlines shorter than
    HEADLINE_MIN_WORDS words are too common to identify a story and get no key.
    """
    if from_search:
        title = _PUBLISHER_SUFFIX.sub("", title.strip())
    words = normalize(title)
    if words.count(" ") + 1 < HEADLINE_MIN_WORDS:
        return None
    return "headline:" + words


def story_keys(article: Article, source_url: str, *, from_search: bool = False) -> list[str]:
    """Every key this story is known by, in a fixed order, each at most MAX_KEY_LENGTH long.

    A guid that is an absolute URI ("tag:", "urn:", "http:") is globally unique by design and
    is used as is. A bare guid such as "1234" is unique only within its publisher, and two
    publishers' "1234" are different stories, so it is scoped by the host of the feed URL.
    An item with neither link nor guid falls back to its title under that host; one with no
    title either has nothing to be known by and gets no key. A distinctive headline is a
    key too (see `headline_key`), which joins a publisher's item and a search feed's copy.
    """
    host = _feed_host(source_url)
    link = article.link.strip()
    guid = article.guid.strip()
    keys = []
    if link:
        keys.append("url:" + canonical_url(link))
    if guid:
        if _http_host(guid):
            keys.append("url:" + canonical_url(guid))
        keys.append("guid:" + guid if _ABSOLUTE_URI.match(guid) else f"guid:{host}|{guid}")
    if not keys:
        title = normalize(article.title)
        if title:
            keys.append(f"title:{host}|{title}")
    if headline := headline_key(article.title, from_search=from_search):
        keys.append(headline)
    return list(dict.fromkeys(map(_capped, keys)))
