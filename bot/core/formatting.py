"""Telegram HTML for alerts and lists: feed text escaped, links checked, length capped.

Feed text is untrusted: every piece is escaped, and only http(s) links become links, so an
item cannot inject markup or a `javascript:` URL. Telegram refuses messages longer than
MAX_MESSAGE_LENGTH, so every part has a cap and the snippet gives way first, then the title.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.core.article import Article
from bot.core.tags import hashtag

MAX_MESSAGE_LENGTH = 4096

# Caps for the lines that are not cut word by word, chosen so the title always keeps
# several hundred characters of MAX_MESSAGE_LENGTH.
_MAX_LINK_LENGTH = 2048
_MAX_SOURCE_LENGTH = 100
_MAX_TAGS_LENGTH = 1000
_LIST_TITLE_LENGTH = 200

_HTTP_LINK = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)
_UNTITLED = "(untitled)"


def _squash(text: str) -> str:
    """Feed text on one line: runs of whitespace and line breaks become one space."""
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at a word end with "…" (or "")."""
    if len(text) <= limit:
        return text
    if limit < 2:  # no room for a character and the "…"
        return ""
    head = text[: limit - 1]
    if not text[len(head)].isspace():  # the cut is inside a word: back up to its start
        head = head.rpartition(" ")[0] or head
    head = head.rstrip()
    return head + "…" if head else ""


def _escaped_within(text: str, budget: int, limit: int | None = None) -> str:
    """`text` shortened to at most `limit` characters, escaped, and at most `budget` long.

    Escaping lengthens `&`, `<` and `>`, so the plain-text limit shrinks until it fits.
    """
    limit = len(text) if limit is None else limit
    while True:
        escaped = html.escape(_shorten(text, limit), quote=False)
        if not escaped or len(escaped) <= budget:
            return escaped
        limit -= len(escaped) - budget


def _title_tags(link: str) -> tuple[str, str]:
    """Markup around the title: a link for an http(s) URL of sane length, else bold."""
    link = link.strip()
    href = html.escape(link, quote=True)
    if _HTTP_LINK.fullmatch(link) and len(href) <= _MAX_LINK_LENGTH:
        return f'<a href="{href}">', "</a>"
    return "<b>", "</b>"


def _timestamp(published: datetime | None) -> str:
    """UTC time as "2025-04-16 09:30 UTC"; a naive time is taken to be UTC already."""
    if published is None:
        return ""
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return published.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _hashtag_line(tags: Sequence[str]) -> str:
    """The tags as hashtags, each once, those that fit in _MAX_TAGS_LENGTH, "…" for the rest.

    Hashtags hold only letters, digits, `_` and `#`, so they need no escaping.
    """
    hashtags = list(dict.fromkeys(filter(None, map(hashtag, tags))))
    shown: list[str] = []
    room = _MAX_TAGS_LENGTH - 2  # kept for a closing " …"
    for tag in hashtags:
        if len(tag) < room:
            shown.append(tag)
            room -= len(tag) + 1
    if len(shown) < len(hashtags):
        shown.append("…")
    return " ".join(shown)


def format_alert(
    article: Article, *, source_name: str, tags: Sequence[str], snippet_length: int = 300
) -> str:
    """The alert for one article, at most MAX_MESSAGE_LENGTH characters of Telegram HTML.

    Title (linked when the link is http(s)), then source and time, then the matched tags
    as hashtags, then a snippet of the summary (or content) of about `snippet_length`.
    """
    source = _escaped_within(_squash(source_name), _MAX_SOURCE_LENGTH)
    meta = " · ".join(part for part in (source, _timestamp(article.published)) if part)
    head = [line for line in (meta, _hashtag_line(tags)) if line]
    opening, closing = _title_tags(article.link)
    room = MAX_MESSAGE_LENGTH - len(opening) - len(closing) - sum(len(x) + 1 for x in head)
    title_text = _squash(article.title) or _UNTITLED
    title = _escaped_within(title_text, room)
    lines = [opening + title + closing, *head]
    snippet_text = _squash(article.summary or article.content)
    if snippet_text != title_text:  # some feeds repeat the title as the summary
        snippet_room = room - len(title) - 2  # the blank line before the snippet
        snippet = _escaped_within(snippet_text, snippet_room, snippet_length)
        if snippet:
            lines += ["", snippet]
    return "\n".join(lines)


def format_article_line(article: Article) -> str:
    """One line for lists such as /latest: the linked title and, when known, the time."""
    opening, closing = _title_tags(article.link)
    title = _escaped_within(_squash(article.title) or _UNTITLED, _LIST_TITLE_LENGTH)
    when = _timestamp(article.published)
    return opening + title + closing + (f" · {when}" if when else "")
