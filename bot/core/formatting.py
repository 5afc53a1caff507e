"""Telegram HTML for alerts and lists: feed text escaped, links checked, length capped.

Feed text is untrusted: every piece is escaped, and only http(s) links become links, so an
item cannot inject markup or a `javascript:` URL. Telegram refuses messages longer than
MAX_MESSAGE_LENGTH, so every part has a cap and the snippet gives way first, then the title.

An alert also says why it matched: the matched words in bold in the snippet, and the alias
when the words were not the tag itself. The words are found again in the feed text by a
pattern built from the normalized term, tolerant of case, punctuation and Korean particles
as matching is; a spelling it cannot find (rare NFKC variants) is simply not bolded.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.core.article import Article
from bot.core.tags import hashtag, typed_terms
from bot.core.text import endings_after, normalize, plural, searchable, unescape_leftovers

MAX_MESSAGE_LENGTH = 4096

# Caps for the lines that are not cut word by word, chosen so the title always keeps
# several hundred characters of MAX_MESSAGE_LENGTH.
_MAX_LINK_LENGTH = 2048
_MAX_SOURCE_LENGTH = 100
_MAX_TAGS_LENGTH = 1000
_LIST_TITLE_LENGTH = 200
_MATCHED_LENGTH = 60  # the spelling shown in "(matched “…”)"
_ALSO_NAMES = 5  # outlets named in "Also reported by", the rest counted

_HTTP_LINK = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)
_UNTITLED = "(untitled)"
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
# What may precede and follow a term, as in matching: no letter or digit, except that Korean
# writes Hangul straight after Latin letters and digits ("NATO는", "K2전차").
_START = r"(?<![^\W_])"
_START_HANGUL = r"(?<![^\W_A-Za-z0-9])"
_END = r"(?![^\W_])"
_END_LATIN = r"(?![^\W_\uac00-\ud7a3])"


def _squash(text: str) -> str:
    """Feed text on one line (runs of whitespace and line breaks become one space), with
    entities that were escaped twice decoded ("AT&amp;T" shows as "AT&T")."""
    return " ".join(unescape_leftovers(text).split())


def _cut(text: str, limit: int) -> int:
    """How much of `text` to keep so that it, with "…" when cut, fits in `limit` characters.

    A cut falls at the end of a word; 0 when not even one word and the "…" fit.
    """
    if len(text) <= limit:
        return len(text)
    if limit < 2:  # no room for a character and the "…"
        return 0
    head = text[: limit - 1]
    if not text[len(head)].isspace():  # the cut is inside a word: back up to its start
        head = head.rpartition(" ")[0] or head
    return len(head.rstrip())


def _shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at a word end with "…" (or "")."""
    kept = _cut(text, limit)
    if kept == len(text):
        return text
    return text[:kept] + "…" if kept else ""


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


def _hashtag_line(tags: Sequence[str], notes: Mapping[str, str]) -> str:
    """The tags as hashtags, each once, those that fit in _MAX_TAGS_LENGTH, "…" for the rest.

    A tag with a note (the alias it matched by) shows it: `#KIDA (matched “…”)`. Hashtags
    hold only letters, digits, `_` and `#`, so only the note needs escaping.
    """
    entries: dict[str, str] = {}  # hashtag -> what the line shows for it
    for name in tags:
        tag = hashtag(name)
        if tag and tag not in entries:
            note = html.escape(_shorten(notes.get(name, ""), _MATCHED_LENGTH), quote=False)
            entries[tag] = f"{tag} (matched “{note}”)" if note else tag
    shown: list[str] = []
    room = _MAX_TAGS_LENGTH - 2  # kept for a closing " …"
    for entry in entries.values():
        if len(entry) < room:
            shown.append(entry)
            room -= len(entry) + 1
    if len(shown) < len(entries):
        shown.append("…")
    return " ".join(shown)


@functools.lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str] | None:
    """Where a (normalized) term is written in feed text, as matching finds it.

    Its words in any case with any punctuation, or none, between them ("K2-tank",
    "#KoreaInstituteforDefenseAnalyses"), the last one possibly in the plural, a whole
    word at each end, except that a Korean particle may follow a Hangul-final term (the
    particle is not part of the match).
    """
    words = searchable(term).split()
    if not words:
        return None
    start = _START_HANGUL if _HANGUL.match(words[0]) else _START
    endings = endings_after(words[-1])
    if endings:
        end = "(?=(?:" + "|".join(sorted(endings, key=len, reverse=True)) + f")?{_END})"
    else:
        end = _END if _HANGUL.match(words[-1][-1]) else _END_LATIN
    spelled = [re.escape(word) for word in words]
    if plural_word := plural(words[-1]):
        spelled[-1] = f"(?:{re.escape(plural_word)}|{spelled[-1]})"
    return re.compile(start + r"[\W_]*".join(spelled) + end, re.IGNORECASE)


def _spans(text: str, patterns: Sequence[re.Pattern[str]]) -> list[tuple[int, int]]:
    """Where the patterns match in `text`, in order, overlapping or touching spans merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(
        found.span() for pattern in patterns for found in pattern.finditer(text)
    ):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif end > start:
            merged.append((start, end))
    return merged


def _marked(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` escaped, with the spans (offsets into `text`) in bold."""
    parts, at = [], 0
    for start, end in spans:
        parts += [html.escape(text[at:start], quote=False), "<b>"]
        parts += [html.escape(text[start:end], quote=False), "</b>"]
        at = end
    parts.append(html.escape(text[at:], quote=False))
    return "".join(parts)


def _window_start(text: str, spans: Sequence[tuple[int, int]], limit: int) -> int:
    """Where a snippet of about `limit` characters starts so that it shows the first span.

    At the text's start if the span ends within two thirds of `limit`; else a third of
    `limit` before the span (less if that leaves room at the end), at a word's start.
    """
    if not spans or spans[0][1] <= limit * 2 // 3:
        return 0
    first = spans[0][0]
    start = max(0, min(first - limit // 3, len(text) - limit + 1))
    if start and not text[start - 1].isspace():
        space = text.find(" ", start, first)
        start = space + 1 if space != -1 else first
    return start


def _snippet(text: str, spans: Sequence[tuple[int, int]], budget: int, limit: int) -> str:
    """About `limit` characters of `text` around its first span, escaped, spans in bold.

    "…" marks text left out at either end; at most `budget` characters of HTML (escaping
    and bold tags lengthen it, so the plain-text limit shrinks until it fits), or "".
    """
    start = _window_start(text, spans, limit)
    window, prefix = text[start:], "…" if start else ""
    while True:
        kept = _cut(window, limit - len(prefix))
        if not kept:
            return ""
        shown = [(max(a - start, 0), min(b - start, kept)) for a, b in spans if a - start < kept]
        html_text = prefix + _marked(window[:kept], shown) + ("…" if kept < len(window) else "")
        if len(html_text) <= budget:
            return html_text
        limit -= len(html_text) - budget


def _snippet_source(
    article: Article, title: str, patterns: Sequence[re.Pattern[str]]
) -> tuple[str, list[tuple[int, int]]]:
    """The summary, or the content, squashed, and where the matched terms are in it.

    The first of them that shows a match, else the first; never one that only repeats the
    title (some feeds do). ("", []) when there is none.
    """
    candidates = [
        text for text in map(_squash, (article.summary, article.content)) if text and text != title
    ]
    for candidate in candidates:
        spans = _spans(candidate, patterns)
        if spans:
            return candidate, spans
    return (candidates[0], []) if candidates else ("", [])


def _notes(article: Article, tags: Sequence[str], matched: Mapping[str, str]) -> dict[str, str]:
    """Tag name -> the words that matched it, as the article writes them, for the tags that
    matched by an alias rather than by one of their own typed terms."""
    return {
        name: _spelling(article, term)
        for name in tags
        if (term := matched.get(name)) and normalize(term) not in typed_terms(name)
    }


def _spelling(article: Article, term: str) -> str:
    """`term` as the article first writes it, or `term` itself when it cannot be found."""
    pattern = _term_pattern(term)
    if pattern is not None:
        for text in (article.title, article.summary, article.content, *article.categories):
            found = pattern.search(text)
            if found:
                return _squash(found.group())
    return term


def format_alert(
    article: Article,
    *,
    source_name: str,
    tags: Sequence[str],
    snippet_length: int = 300,
    matched: Mapping[str, str] | None = None,
    also: Sequence[str] = (),
) -> str:
    """The alert for one article, at most MAX_MESSAGE_LENGTH characters of Telegram HTML.

    Title (linked when the link is http(s)), then source and time, then the matched tags
    as hashtags, then a snippet of the summary (or content) of about `snippet_length`.
    `matched` (tag name -> the normalized term that matched it, as `TagIndex.match` gives
    by key) says why: its terms are bold in the snippet, which is centred on the first of
    them when it lies far into the text, and a tag matched by an alias names it. `also`
    names the other outlets that carried the story.
    """
    matched = matched or {}
    source = _escaped_within(_squash(source_name), _MAX_SOURCE_LENGTH)
    meta = " · ".join(part for part in (source, _timestamp(article.published)) if part)
    tag_line = _hashtag_line(tags, _notes(article, tags, matched))
    head = [line for line in (meta, _also_line(also), tag_line) if line]
    opening, closing = _title_tags(article.link)
    room = MAX_MESSAGE_LENGTH - len(opening) - len(closing) - sum(len(x) + 1 for x in head)
    title_text = _squash(article.title) or _UNTITLED
    title = _escaped_within(title_text, room)
    lines = [opening + title + closing, *head]
    patterns = [p for term in dict.fromkeys(matched.values()) if (p := _term_pattern(term))]
    snippet_text, spans = _snippet_source(article, title_text, patterns)
    snippet_room = room - len(title) - 2  # the blank line before the snippet
    snippet = _snippet(snippet_text, spans, snippet_room, snippet_length)
    if snippet:
        lines += ["", snippet]
    return "\n".join(lines)


def _also_line(outlets: Sequence[str]) -> str:
    """ "Also reported by A, B and 3 more": the first few outlets, each cut short."""
    names = [_escaped_within(_squash(name), _MAX_SOURCE_LENGTH) for name in outlets]
    names = [name for name in dict.fromkeys(names) if name]
    if not names:
        return ""
    shown, rest = names[:_ALSO_NAMES], len(names) - _ALSO_NAMES
    if rest > 0:
        return f"Also reported by {', '.join(shown)} and {rest} more"
    if len(shown) == 1:
        return f"Also reported by {shown[0]}"
    return f"Also reported by {', '.join(shown[:-1])} and {shown[-1]}"


def format_article_line(article: Article) -> str:
    """One line for lists such as /latest: the linked title and, when known, the time."""
    opening, closing = _title_tags(article.link)
    title = _escaped_within(_squash(article.title) or _UNTITLED, _LIST_TITLE_LENGTH)
    when = _timestamp(article.published)
    return opening + title + closing + (f" · {when}" if when else "")
