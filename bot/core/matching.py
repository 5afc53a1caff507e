"""Which followed tags an article mentions, for every tag of every chat in one pass.

All terms go into one Aho-Corasick automaton as `" " + term + " "`. Articles are searched as
`searchable` text padded with spaces, where every word boundary is exactly one space, so the
automaton itself enforces whole words and adjacent phrases ("nato" never hits "donatos") and
the cost per article does not grow with the number of tags.

Korean boundaries. Korean writes particles onto the word they follow ("한국국방연구원은",
"한국국방연구원에서는"), so a Hangul-final term also goes in once per ending that can
follow it (`bot.core.text.endings_after`: a closed list of particles and two head-of
suffixes, only the forms that fit the term's last sound). A Hangul word is otherwise whole
like any other: a term still needs a boundary before it, so "국방연구원" does not match
inside "한국국방연구원", and after it only a listed ending may follow, so "연구" does not
match "연구원". A Latin letter or digit running into Hangul is a boundary ("NATO는" holds
"nato"), see `searchable`. Likewise a term ending in an English word goes in in the plural
too ("k2 tanks"), see `bot.core.text.plural`.

Speed. The work per article is one normalization pass, one automaton pass and, per hit,
only C-level steps: the automaton's value for a term only one tag has is the pair
(tag key, term) itself, so the hits feed `dict()` directly. A term several tags share has
a "shared" value resolved in Python, only when one is hit. Excluded terms live in a second
automaton, searched only when a tag that has exclusions matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import itemgetter, or_
from typing import TypeVar

import ahocorasick

from bot.core.article import Article
from bot.core.tags import Tag
from bot.core.text import FIELD_BREAK, endings_after, plural, searchable

_SEPARATOR = f" {FIELD_BREAK} "
_HASHTAG = re.compile(r"#(\w+)")
# Where a CamelCase name changes words: "NATOSummit" -> "NATO Summit", "K2Tank" -> "K2 Tank".
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Words that CamelCase hashtags often leave out: #KoreaInstituteDefenseAnalyses.
_SMALL_WORDS = frozenset({"a", "an", "and", "at", "for", "in", "of", "on", "the", "to"})
# Starts the key of a shared value; tag keys are normalized text and never hold it.
_SHARED = "\x00"

_value = itemgetter(1)  # of an automaton hit (end, value)
_key = itemgetter(0)  # of a value (tag key, term)

_Pair = tuple[str, str]  # (tag key, matched term)
_V = TypeVar("_V")


class TagIndex:
    """The followed tags, built once per change of the follow set, matched per article."""

    def __init__(self, tags: Iterable[Tag]) -> None:
        keys: set[str] = set()
        wanted: dict[str, dict[str, str]] = {}  # searchable form -> {tag key: term}
        self._exclusions: dict[str, frozenset[str]] = {}  # tag key -> forms that veto it
        for tag in tags:
            keys.add(tag.key)
            for term in tag.terms:
                wanted.setdefault(searchable(term), {}).setdefault(tag.key, term)
            if tag.exclude:
                self._exclusions[tag.key] = frozenset(map(searchable, tag.exclude))
        self._size = len(keys)
        # A shared value's key -> the pairs of the tags that share its term.
        self._shared: dict[str, tuple[_Pair, ...]] = {}
        values = {form: self._value(tuple(found.items())) for form, found in wanted.items()}
        self._automaton = _automaton(values, self._merged)
        # The excluded terms have an automaton of their own, searched only when a tag
        # with exclusions matched, so that common excluded words cost nothing otherwise.
        forms = set().union(*self._exclusions.values())
        self._excluded = _automaton({form: frozenset({form}) for form in forms}, or_)
        # Multi-word terms by compact key, for "#KoreaInstituteforDefenseAnalyses" and
        # CamelCase categories; one-word terms are found by the automaton already.
        self._by_compact: dict[str, list[_Pair]] = {}
        for form, value in values.items():
            for key in _compact_keys(form):
                self._by_compact.setdefault(key, []).append(value)

    def _value(self, found: tuple[_Pair, ...]) -> _Pair:
        """The automaton value for a term: its tag's pair, or a shared pair standing for all."""
        if len(found) == 1:
            return found[0]
        shared = f"{_SHARED}{len(self._shared)}"
        self._shared[shared] = found
        return shared, ""

    def _merged(self, held: _Pair, value: _Pair) -> _Pair:
        """One value for a pattern two terms share, finding what both find.

        Only terms that end in something particle-like collide ("연구원의" as a term of its
        own and "연구원" + 의), but neither may be lost.
        """
        pairs = dict(self._shared.get(held[0], (held,)))
        for key, term in self._shared.get(value[0], (value,)):
            pairs.setdefault(key, term)
        return self._value(tuple(pairs.items()))

    def __len__(self) -> int:
        """The number of distinct tag keys."""
        return self._size

    def match(self, article: Article) -> dict[str, str]:
        """Each matching tag key -> a normalized term that matched it.

        The term is the first found among those only this tag has, else the first found
        that it shares with other tags. Searches title, summary, content and categories as
        words; `#hashtags` and CamelCase categories also split at their capitals and by
        compact key. A tag with an excluded term anywhere in the article does not match.
        Never raises.
        """
        if self._automaton is None:
            return {}
        body = _SEPARATOR.join((article.title, article.summary, article.content))
        hashtags = _HASHTAG.findall(body) if "#" in body else []
        names = (*article.categories, *hashtags)
        if names:
            joined = _SEPARATOR.join(names)
            camel = _CAMEL.sub(" ", joined)
            body = _SEPARATOR.join((body, joined, camel if camel != joined else ""))
        haystack = f" {searchable(body)} "
        values = list(map(_value, self._automaton.iter(haystack)))
        if names and self._by_compact:
            # The names' own fields follow title, summary and content.
            for form in haystack.split(FIELD_BREAK)[3 : 3 + len(names)]:
                values += self._by_compact.get(form.replace(" ", ""), ())
        # Later pairs overwrite earlier ones, so feeding them in reverse keeps the first.
        found = dict(reversed(values))
        if self._shared and not self._shared.keys().isdisjoint(found):
            self._resolve_shared(found, values)
        if self._excluded is not None and not self._exclusions.keys().isdisjoint(found):
            present = frozenset().union(*map(_value, self._excluded.iter(haystack)))
            for key in self._exclusions.keys() & found.keys():
                if not self._exclusions[key].isdisjoint(present):
                    del found[key]
        return found

    def _resolve_shared(self, found: dict[str, str], values: list[_Pair]) -> None:
        """Replace the shared keys in `found` by the tags that share them.

        Shared terms are taken in the order they were first found, and fill in only the
        tags that no term of their own found.
        """
        for shared in dict.fromkeys(filter(self._shared.__contains__, map(_key, values))):
            del found[shared]
            for key, term in self._shared[shared]:
                found.setdefault(key, term)


def _automaton(
    values: Mapping[str, _V], merge: Callable[[_V, _V], _V]
) -> ahocorasick.Automaton | None:
    """Each term's automaton words -> its value; a word two terms share gets the merge.

    None without terms: pyahocorasick cannot search an automaton without words.
    """
    if not values:
        return None
    automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
    for form, value in values.items():
        for pattern in _patterns(form):
            held = automaton.get(pattern, None)
            automaton.add_word(pattern, value if held is None else merge(held, value))
    automaton.make_automaton()
    return automaton


def _patterns(form: str) -> Iterator[str]:
    """The automaton words for a term: the term alone, in the plural if it ends in an English
    word, and with each Korean particle or suffix if it ends in Hangul."""
    yield f" {form} "
    if plural_form := plural(form):
        yield f" {plural_form} "
    for ending in endings_after(form):
        yield f" {form}{ending} "


def _compact_keys(form: str) -> tuple[str, ...]:
    """A multi-word term's compact keys: all its words, and without its small words if
    that still leaves two ("koreainstitutedefenseanalyses")."""
    words = form.split(" ")
    if len(words) < 2:
        return ()
    kept = [word for word in words if word not in _SMALL_WORDS]
    if len(kept) < 2 or len(kept) == len(words):
        return ("".join(words),)
    return ("".join(words), "".join(kept))
