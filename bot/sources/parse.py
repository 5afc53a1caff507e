"""Turn fetched feed bytes (RSS 0.9x/1.0/2.0, Atom) into plain-text `Article`s.

feedparser does the format work; this module decides what a usable feed is, refuses entity
tricks before feedparser sees them, and flattens every text field to plain text, because
everything downstream (tag matching, Telegram messages) works on text, never on HTML.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser

from bot.core.article import Article

MAX_ITEMS = 1000
ENTITIES_REFUSED = "refused: the feed declares XML entities"
NOT_A_FEED = "not a feed: no items and no RSS/Atom root"
_BLOCKS = (
    "address, article, aside, blockquote, br, dd, div, dl, dt, figcaption, figure, footer, "
    "h1, h2, h3, h4, h5, h6, header, hr, li, main, nav, ol, p, pre, section, table, td, th, "
    "tr, ul"
)


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's title and articles, or `error` saying why the document is not a usable feed."""

    title: str
    articles: list[Article]
    error: str | None = None


def parse_feed(
    content: bytes,
    url: str,
    *,
    content_type: str | None = None,
    max_items: int = MAX_ITEMS,
) -> ParsedFeed:
    """Parse a feed document; never raises. Keeps the first `max_items` items.

    `url` is the feed's own URL (relative links resolve against it); `content_type` is the
    HTTP Content-Type header, whose charset wins over the XML declaration, as RFC 3023 says.
    """
    if _declares_entities(content):
        return ParsedFeed(title="", articles=[], error=ENTITIES_REFUSED)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        # A file object, never bytes or str: given those, feedparser first tries them as a
        # URL to download or a local path to open.
        parsed = feedparser.parse(io.BytesIO(content), response_headers=headers)
    except Exception as exc:  # fuzzing finds ValueError, KeyError, UnicodeDecodeError inside
        return ParsedFeed(title="", articles=[], error=f"could not parse: {exc!r}")
    try:
        articles = [_article(entry, url) for entry in parsed.entries[:max_items]]
        title = _text(parsed.feed, "title")
    except Exception as exc:  # a bug of ours must cost one feed, not the poller
        return ParsedFeed(title="", articles=[], error=f"could not read the items: {exc!r}")
    articles = [article for article in articles if _has_substance(article)]
    if not articles:
        if not parsed.get("version"):
            return ParsedFeed(title="", articles=[], error=NOT_A_FEED)
        problem = parsed.get("bozo_exception")
        # feedparser also flags harmless things (no Content-Type, a corrected charset);
        # only a real XML error makes an empty feed suspect rather than merely empty.
        if problem is not None and not isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
            return ParsedFeed(title="", articles=[], error=f"malformed feed: {problem}")
    return ParsedFeed(title=title, articles=articles)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    if "<" in html or "&" in html:
        tree = LexborHTMLParser(html)
        tree.strip_tags(["script", "style"])  # their text is code, not prose
        for node in tree.css(_BLOCKS):
            node.insert_after(" ")  # a block boundary separates words; an inline tag does not
        html = tree.text(separator="")
    return " ".join(html.split())


def _declares_entities(content: bytes) -> bool:
    """True when the document declares XML entities (billion laughs, external entities).

    A cheap byte check instead of a parse; NULs are dropped first so that UTF-16 and UTF-32
    spellings of the declaration are caught too.
    """
    return b"<!ENTITY" in content.replace(b"\x00", b"")


def _article(entry: Any, feed_url: str) -> Article:
    content = max(
        entry.get("content") or [], key=lambda part: len(part.get("value") or ""), default={}
    )
    return Article(
        title=_text(entry, "title"),
        link=_web_link(entry.get("link") or "", feed_url),
        guid=(entry.get("id") or "").strip(),
        summary=_text(entry, "summary"),
        content=_as_text(content.get("value") or "", content.get("type")),
        categories=tuple(
            dict.fromkeys(term for tag in entry.get("tags") or [] if (term := _tag_term(tag)))
        ),
        published=_published(entry),
    )


def _web_link(link: str, feed_url: str) -> str:
    """The entry's link made absolute; "" unless it is http(s), since chat users click it and
    feedparser passes `javascript:` and `data:` links through untouched."""
    link = link.strip()
    try:
        absolute = urljoin(feed_url, link) if link else ""
        return absolute if urlsplit(absolute).scheme.lower() in ("http", "https") else ""
    except ValueError:  # e.g. an unclosed "[" IPv6 bracket
        return ""


def _has_substance(article: Article) -> bool:
    """The loose parser turns a cut-off `<item>` into an empty entry; nobody wants that."""
    return bool(article.title or article.link or article.summary or article.content)


def _text(element: Any, key: str) -> str:
    """Field `key` of a feedparser entry or feed as plain text, honouring its declared type."""
    detail = element.get(f"{key}_detail") or {}
    return _as_text(element.get(key) or "", detail.get("type"))


def _as_text(value: str, media_type: str | None) -> str:
    """Text declared plain (Atom type="text") may hold a literal "<"; only markup is parsed."""
    if media_type == "text/plain":
        return " ".join(value.split())
    return html_to_text(value)


def _tag_term(tag: Any) -> str:
    return " ".join((tag.get("term") or "").split())


def _published(entry: Any) -> datetime | None:
    """`published`, else `updated`, as aware UTC; a nonsense date becomes None, not an error.

    Read with plain `dict.get`: feedparser's own `get("updated_parsed")` answers with
    `published_parsed` (and a DeprecationWarning) when only the latter exists.
    """
    for key in ("published_parsed", "updated_parsed"):
        parsed = dict.get(entry, key)
        if parsed:
            try:
                return datetime(*parsed[:6], tzinfo=UTC)  # feedparser's struct_time is UTC
            except (TypeError, ValueError, OverflowError):
                continue
    return None
