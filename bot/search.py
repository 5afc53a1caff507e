"""News search per tag: a search engine's feed for a tag's names, shared by every chat.

A tag is only as good as what the bot reads; a news search feed (Google News RSS by
default) finds the tag's stories in outlets no catalogue lists. The URL templates are
settings, so an operator can point them at another engine or switch them off.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote_plus

from bot.core.tags import Tag

DEFAULT_TEMPLATES = "https://news.google.com/rss/search?q={query}&hl=en-US&gl=US&ceid=US:en"
MAX_NAMES = 8  # search engines cap query length; the first names are the most telling


def search_query(names: Sequence[str], exclude: Sequence[str] = ()) -> str:
    """'"kida" OR "korea institute for defense analyses" -"toy"': any of the tag's names,
    exactly, none of its exclusions."""
    quoted = ['"' + name.replace('"', " ").strip() + '"' for name in names[:MAX_NAMES]]
    query = " OR ".join(q for q in quoted if q != '""')
    return " ".join([query, *('-"' + name.replace('"', " ").strip() + '"' for name in exclude)])


def search_urls(templates: Sequence[str], tag: Tag) -> list[str]:
    """The search feed URLs for a tag, one per template (`{query}` is replaced).

    The tag's terms already hold every alternative and alias, normalized (search engines
    ignore case and punctuation anyway).
    """
    query = quote_plus(search_query(tag.terms, tag.exclude))
    return [template.replace("{query}", query) for template in templates if "{query}" in template]
