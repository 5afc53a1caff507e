"""One message for many alerts, so a burst of news reaches a chat as a list, not a flood."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from bot.core.article import Article
from bot.core.formatting import MAX_MESSAGE_LENGTH, format_article_line
from bot.core.tags import hashtag

HEADER_TAGS = 10  # a header naming more tags than this says "and others"
HEADER_ROOM = 800  # characters kept for the header, whatever the tags


@dataclass(frozen=True)
class DigestItem:
    article: Article
    source_name: str
    tags: Sequence[str]


def format_digest(items: Sequence[DigestItem], limit: int = MAX_MESSAGE_LENGTH) -> tuple[str, int]:
    """The digest's HTML and how many of `items` it covers (the first ones; the rest wait).

    Every line is complete markup, so cutting the list after any line keeps the message
    valid. A link two items share is listed once.
    """
    lines: list[str] = []
    links: set[str] = set()
    length = HEADER_ROOM
    covered = 0
    for item in items:
        if item.article.link and item.article.link in links:
            covered += 1
            continue
        source = f" · <i>{escape(item.source_name[:60])}</i>" if item.source_name else ""
        line = "• " + format_article_line(item.article) + source
        if lines and length + len(line) + 1 > limit:
            break
        links.add(item.article.link)
        lines.append(line)
        length += len(line) + 1
        covered += 1
    return _header(items[:covered], covered < len(items)) + "\n" + "\n".join(lines), covered


def _header(items: Sequence[DigestItem], more: bool) -> str:
    tags = list(dict.fromkeys(tag for item in items for tag in item.tags))
    named = " ".join(escape(hashtag(tag)) for tag in tags[:HEADER_TAGS])
    if len(tags) > HEADER_TAGS:
        named += " and others"
    note = " (more follow)" if more else ""
    return f"<b>{len(items)} new articles</b>{note} for {named}"[:HEADER_ROOM]
