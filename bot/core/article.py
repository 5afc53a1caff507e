"""The value every stage passes along: one item of a feed, as plain text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Article:
    """One feed item after parsing; every text field is plain text, never HTML.

    `link` is absolute (resolved against the feed) or "" when the item has none; `guid` is
    the feed's own id or "". `published` is timezone-aware UTC, or None when the feed
    gives no usable date.
    """

    title: str
    link: str = ""
    guid: str = ""
    summary: str = ""
    content: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
