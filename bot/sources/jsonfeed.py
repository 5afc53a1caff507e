"""Read JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1).

The two versions differ only in author fields and `language`, which is read when present.
Documents come from strangers, so every value is type-checked: a number where a string
belongs is skipped, not trusted.
"""

from __future__ import annotations

import json
from typing import Any

from bot.sources.dates import publisher_zone
from bot.sources.feed import Entry, ParsedFeed, read_entries
from bot.sources.text import as_text

VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
NOT_A_JSON_FEED = "not a feed: JSON without a jsonfeed.org version"


def read_json_feed(
    text: str, url: str, max_items: int, seen: frozenset[int] = frozenset()
) -> ParsedFeed:
    """A JSON Feed document as a ParsedFeed; never raises. Items whose fingerprint (that of
    their Entry: reading one costs little next to converting it) is in `seen` are left out
    of `articles`, as in `feed.read_items`."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested deep
        return ParsedFeed(title="", articles=[], error=f"malformed JSON Feed: {exc}")
    if not isinstance(document, dict) or not _string(document, "version").startswith(
        VERSION_PREFIXES
    ):
        return ParsedFeed(title="", articles=[], error=NOT_A_JSON_FEED)
    items = document.get("items")
    entries = (
        _entry(item, url)
        for item in (items if isinstance(items, list) else [])[:max_items]
        if isinstance(item, dict)
    )
    zone = publisher_zone(_string(document, "language"), url)
    articles, fingerprints = read_entries(entries, zone, seen)
    return ParsedFeed(
        title=as_text(_string(document, "title"), "text/plain"),
        articles=articles,
        fingerprints=fingerprints,
    )


def _entry(item: dict[str, Any], url: str) -> Entry:
    identifier = item.get("id")
    contents = [
        (_string(item, key), media_type)
        for key, media_type in (("content_html", "text/html"), ("content_text", "text/plain"))
        if _string(item, key)
    ]
    tags = item.get("tags")
    summary = _string(item, "summary")
    return Entry(
        title=(_string(item, "title"), "text/plain"),  # plain text, says the spec
        link=_string(item, "url") or _string(item, "external_url"),
        # The spec says string; feeds in the wild send numbers, which are ids all the same.
        guid=str(identifier) if isinstance(identifier, str) or type(identifier) is int else "",
        # As in RSS and Atom, an item without a summary is summarised by its content.
        summary=(summary, "text/plain") if summary else next(iter(contents), ("", None)),
        contents=contents,
        categories=[tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else [],
        dates=[_string(item, "date_published"), _string(item, "date_modified")],
        base=url,
    )


def _string(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""
