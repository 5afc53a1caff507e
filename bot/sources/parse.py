"""Turn fetched bytes into `Article`s: RSS, Atom, JSON Feed, or an HTML page of headlines.

The entry points decode the bytes once (bot.sources.encoding), refuse entity tricks, pick
the reader by what the document is, and never raise: one bad document must cost one source
a stored reason, never the poller.
"""

from __future__ import annotations

import re

from bot.sources.encoding import decode
from bot.sources.feed import MAX_ITEMS, ParsedFeed
from bot.sources.jsonfeed import read_json_feed
from bot.sources.pages import discover_feeds, parse_article_list
from bot.sources.text import html_to_text
from bot.sources.xmlfeed import NOT_A_FEED, read_broken, read_well_formed

__all__ = [
    "ENTITIES_REFUSED",
    "MAX_ITEMS",
    "NOT_A_FEED",
    "ParsedFeed",
    "discover_feeds",
    "html_to_text",
    "parse_article_list",
    "parse_document",
    "parse_feed",
    "parse_quickly",
]

ENTITIES_REFUSED = "refused: the feed declares XML entities"
# What `parse_quickly` takes: documents up to this size with at most this many tags,
# escaped ones and character references counted. An HTML tree builder's time (for a page,
# or the HTML inside an item) grows with the square of how deep unclosed tags nest: 6 ms
# for 3,000, a second for 26,000 (128 KB of <div>s).
QUICK_UP_TO = 128 * 1024
QUICK_TAGS = 3_000
_TAG_MARKS = (b"<", b"&lt;", b"&#")
_HTML_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S)


def parse_feed(
    content: bytes,
    url: str,
    *,
    content_type: str | None = None,
    max_items: int = MAX_ITEMS,
    seen: frozenset[int] = frozenset(),
) -> ParsedFeed:
    """Parse an RSS, Atom or JSON Feed document; never raises. Keeps the first `max_items`.

    `url` is the document's own URL (relative links resolve against it); `content_type` is
    the HTTP Content-Type header, whose charset is believed when the bytes agree.

    `seen` is the `fingerprints` of an earlier ParsedFeed, typically the last poll of the
    same source (stored with it, see `feed.pack`): items with one of these fingerprints are
    exactly as they were then and are not converted again, so `articles` holds only the
    other items, while `fingerprints`, `error` and the rest are as without `seen`. Every
    item is unseen by default, so `articles` holds them all.
    """
    return _parse(content, url, content_type, max_items, seen, pages=False)


def parse_document(
    content: bytes,
    url: str,
    *,
    content_type: str | None = None,
    max_items: int = MAX_ITEMS,
    seen: frozenset[int] = frozenset(),
) -> ParsedFeed:
    """Like `parse_feed`, and an HTML page becomes its list of articles (`parse_article_list`),
    with the feeds it links to in `alternates`, so any URL a user gives can be polled."""
    return _parse(content, url, content_type, max_items, seen, pages=True)


def parse_quickly(
    content: bytes,
    url: str,
    *,
    content_type: str | None = None,
    max_items: int = MAX_ITEMS,
    seen: frozenset[int] = frozenset(),
) -> ParsedFeed | None:
    """`parse_document` of a common feed, in time that stays small whatever the document
    holds: a JSON Feed or a well-formed RSS or Atom feed read by lxml, within QUICK_UP_TO
    and QUICK_TAGS. None for the rest (an HTML page, broken XML, a big document): their
    readers can take a second on a hostile one, so the caller parses those with
    `parse_document` off the event loop."""
    marks = sum(content.count(mark) for mark in _TAG_MARKS)
    if len(content) > QUICK_UP_TO or marks > QUICK_TAGS:
        return None
    try:
        return _read_quickly(decode(content, content_type).text, url, max_items, seen)
    except Exception as exc:  # a bug of ours must cost one document, not the poller
        return ParsedFeed(title="", articles=[], error=f"could not read the document: {exc!r}")


def _read_quickly(text: str, url: str, max_items: int, seen: frozenset[int]) -> ParsedFeed | None:
    # A plain substring test instead of a parse: billion laughs and external entities are
    # refused before any parser sees them, in every encoding since `text` is decoded.
    if "<!ENTITY" in text:
        return ParsedFeed(title="", articles=[], error=ENTITIES_REFUSED)
    if text.lstrip()[:1] in ("{", "["):
        return read_json_feed(text, url, max_items, seen)
    if _HTML_START.match(text):
        return None
    return read_well_formed(text, url, max_items, seen)


def _parse(
    content: bytes,
    url: str,
    content_type: str | None,
    max_items: int,
    seen: frozenset[int],
    pages: bool,
) -> ParsedFeed:
    try:
        text = decode(content, content_type).text
        if (quick := _read_quickly(text, url, max_items, seen)) is not None:
            return quick
        if _HTML_START.match(text):
            if pages:
                return parse_article_list(text, url, max_items=max_items, seen=seen)
            return ParsedFeed(title="", articles=[], error=NOT_A_FEED)
        feed = read_broken(text, url, max_items, seen)  # the well-formed reader could not
        if pages and feed.error == NOT_A_FEED:  # HTML without <html>
            return parse_article_list(text, url, max_items=max_items, seen=seen)
        return feed
    except Exception as exc:  # a bug of ours must cost one document, not the poller
        return ParsedFeed(title="", articles=[], error=f"could not read the document: {exc!r}")
