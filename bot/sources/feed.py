"""What every reader (XML feed, JSON Feed, HTML page) produces, and the one place where a
reader's raw item becomes an `Article`.

Readers only collect strings (`Entry`); turning them into plain text, absolute links and
UTC dates happens here, once, so the fast and the fallback XML readers cannot drift apart.

Converting is most of a poll's parsing, and most items of a changed feed are the ones seen
last poll. So every item has a fingerprint, an int taken from its raw form before any of
that work, and `read_items` converts only the items whose fingerprint the caller has not
seen (see `ParsedFeed.fingerprints`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TypeVar

from bot.core.article import Article
from bot.sources.dates import parse_date
from bot.sources.text import as_text, collapse, web_link

MAX_ITEMS = 1000

Text = tuple[str, str | None]
"""A text field and its media type: "text/plain", None or any other type meaning HTML."""


@dataclass(frozen=True)
class ParsedFeed:
    """A document's title and articles, or `error` saying why it is not usable.

    `ttl_seconds` is how long the publisher says the document stays fresh (RSS `<ttl>`);
    `alternates` are the feeds an HTML page links to, which are better to poll than it.

    `fingerprints` are those of every item that makes an Article, including the items left
    out of `articles` because the caller had seen their fingerprints (the `seen` argument
    of the parse functions): the next poll's `seen`. An item's fingerprint covers all that
    its Article is made of (its raw form, the base its link resolves against, the zone its
    dates are read in), so an item that changed in any of these gets a new one. They are
    the same in every process (`fingerprint`), so they are stored with their source and
    any process polling it next skips those items (`pack` and `unpack`). Different readers
    fingerprint the same item differently, so a feed that goes from well-formed to broken
    has all its items converted once more; that costs time, never an item.
    """

    title: str
    articles: list[Article]
    error: str | None = None
    ttl_seconds: float | None = None
    alternates: tuple[str, ...] = ()
    fingerprints: frozenset[int] = frozenset()


@dataclass
class Entry:
    """One item as a reader found it: raw strings, links not yet resolved, dates unparsed."""

    title: Text = ("", None)
    link: str = ""
    guid: str = ""
    summary: Text = ("", None)
    contents: list[Text] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)  # most wanted first: published, updated
    base: str = ""  # what `link` is relative to


Item = TypeVar("Item")


def read_items(
    items: Iterable[tuple[int, Item]],
    to_entry: Callable[[Item], Entry],
    zone: tzinfo,
    seen: frozenset[int],
) -> tuple[list[Article], frozenset[int]]:
    """The Articles of the items (fingerprint, raw item) whose fingerprint is not in `seen`,
    in document order, and the fingerprints of every item that makes an Article.

    `to_entry` is called only for those unseen items, and `zone` is for dates without one.
    An item that says nothing makes no Article, and its fingerprint is left out: it is
    converted again each time (it is empty, so that is cheap), and a fingerprint in `seen`
    always stands for an item that had an Article. So `fingerprints` is empty exactly when
    the document has no item worth an Article, whatever `seen` holds, and a reader judges a
    document empty or broken on it, never on `articles`.
    """
    known: list[int] = []
    fresh: list[int] = []
    entries: list[Entry] = []
    for fingerprint, item in items:
        if fingerprint in seen:
            known.append(fingerprint)
        else:
            fresh.append(fingerprint)
            entries.append(to_entry(item))
    converted = _convert(entries, zone)
    articles = [article for article in converted if article is not None]
    kept = (fp for fp, article in zip(fresh, converted, strict=True) if article is not None)
    return articles, frozenset(known).union(kept)


def read_entries(
    entries: Iterable[Entry], zone: tzinfo, seen: frozenset[int]
) -> tuple[list[Article], frozenset[int]]:
    """`read_items` for readers whose items cost little to read into Entries next to
    converting them (feedparser, JSON Feed, pages): an item's fingerprint is its Entry's."""
    return read_items(
        ((_fingerprint(entry, zone), entry) for entry in entries), _itself, zone, seen
    )


def fingerprint(*parts: str) -> int:
    """A 64-bit digest of `parts`, the same in every process (unlike `hash`, which Python
    salts per process). blake2b: a collision would skip a new item as seen, so not crc32."""
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def pack(fingerprints: frozenset[int]) -> bytes:
    """Fingerprints as stored with their source: 8 bytes each."""
    return struct.pack(f"<{len(fingerprints)}Q", *sorted(fingerprints))


def unpack(stored: bytes | None) -> frozenset[int]:
    """The fingerprints `pack` stored; none for a source not read yet."""
    if not stored:
        return frozenset()
    return frozenset(struct.unpack(f"<{len(stored) // 8}Q", stored[: len(stored) // 8 * 8]))


def _fingerprint(entry: Entry, zone: tzinfo) -> int:
    """Everything `_convert` reads of an entry: its fields, the base its link resolves
    against (the reader puts the document's URL there) and the zone of naive dates."""
    return fingerprint(
        repr(
            (
                entry.title,
                entry.link,
                entry.guid,
                entry.summary,
                entry.contents,
                entry.categories,
                entry.dates,
                entry.base,
            )
        ),
        repr(zone),
    )


def _itself(entry: Entry) -> Entry:
    return entry


def _convert(entries: list[Entry], zone: tzinfo) -> list[Article | None]:
    """Each entry as an Article, or None for one that says nothing; `zone` is for dates
    without one.

    Field by field rather than item by item: each pass keeps one library's code and data hot
    (lexbor for texts, email.utils for dates), which measured a third faster on 50-item
    feeds than switching between them at every item.
    """
    titles = [as_text(*entry.title) for entry in entries]
    summaries = [as_text(*entry.summary) for entry in entries]
    contents = [_longest(entry.contents) for entry in entries]
    links = [web_link(entry.link, entry.base) for entry in entries]
    published = [_published(entry.dates, zone) for entry in entries]
    articles = (
        Article(
            title=title,
            link=link,
            guid=entry.guid.strip(),
            summary=summary,
            content=content,
            categories=tuple(dict.fromkeys(filter(None, map(collapse, entry.categories)))),
            published=when,
        )
        for entry, title, link, summary, content, when in zip(
            entries, titles, links, summaries, contents, published, strict=True
        )
    )
    return [article if _has_substance(article) else None for article in articles]


def _longest(contents: list[Text]) -> str:
    """Several content elements (Atom allows it in practice): the longest is the full text."""
    return max((as_text(*part) for part in contents), key=len, default="")


def _published(dates: list[str], zone: tzinfo) -> datetime | None:
    """The first of an entry's dates that reads as one."""
    return next(filter(None, (parse_date(raw, zone) for raw in dates)), None)


def _has_substance(article: Article) -> bool:
    """A cut-off `<item>` becomes an empty entry in a loose parser; nobody wants that."""
    return bool(article.title or article.link or article.summary or article.content)
