"""Which followed tags an article mentions, for every tag of every chat in one pass.

All terms go into one Aho-Corasick automaton as `" " + term + " "`. Articles are searched as
normalized text padded with spaces, where every word boundary is exactly one space, so the
automaton itself enforces whole words and adjacent phrases ("nato" never hits "donatos") and
the cost per article does not grow with the number of tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick

from bot.core.article import Article
from bot.core.tags import Tag
from bot.core.text import compact, normalize

# Normalized text never holds a line break, so a phrase cannot match across two fields.
_FIELD_BREAK = " \n "
_HASHTAG = re.compile(r"#(\w+)")

# What a hit resolves to: the term that matched and the keys of every tag that has it.
_Hit = tuple[str, tuple[str, ...]]


class TagIndex:
    """The followed tags, built once per change of the follow set, matched per article."""

    def __init__(self, tags: Iterable[Tag]) -> None:
        owners: dict[str, dict[str, None]] = {}  # term -> tag keys, ordered and unique
        keys: set[str] = set()
        for tag in tags:
            keys.add(tag.key)
            for term in tag.terms:
                owners.setdefault(term, {})[tag.key] = None
        self._size = len(keys)
        self._automaton: ahocorasick.Automaton | None = None
        # Multi-word terms by compact key, for "#KoreaInstituteforDefenseAnalyses" and
        # CamelCase categories; one-word terms are found by the automaton already.
        self._by_compact: dict[str, list[_Hit]] = {}
        if not owners:
            return  # pyahocorasick cannot search an automaton without words
        automaton = ahocorasick.Automaton()
        for term, term_keys in owners.items():
            hit = (term, tuple(term_keys))
            automaton.add_word(f" {term} ", hit)
            if " " in term:
                self._by_compact.setdefault(term.replace(" ", ""), []).append(hit)
        automaton.make_automaton()
        self._automaton = automaton

    def __len__(self) -> int:
        """The number of distinct tag keys."""
        return self._size

    def match(self, article: Article) -> dict[str, str]:
        """Each matching tag key -> the normalized term that matched it first.

        Searches title, summary, content and categories as words, and categories and
        `#hashtags` also by compact key. Never raises for any text.
        """
        if self._automaton is None:
            return {}
        texts = (article.title, article.summary, article.content)
        fields = (*texts, *article.categories)
        haystack = " " + _FIELD_BREAK.join(map(normalize, fields)) + " "
        found: dict[str, str] = {}
        hits = [hit for _end, hit in self._automaton.iter(haystack)]
        if self._by_compact:
            hashtags = (tag for text in texts for tag in _HASHTAG.findall(text))
            for name in (*article.categories, *hashtags):
                hits.extend(self._by_compact.get(compact(name), ()))
        for term, keys in hits:
            for key in keys:
                found.setdefault(key, term)
        return found
