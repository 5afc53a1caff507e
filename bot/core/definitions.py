"""Acronym definitions written in articles, so newsbot can learn aliases its table lacks.

"Korea Institute for Defense Analyses (KIDA)" teaches that KIDA stands for the full name.
Parentheses hold much else (dates, wire credits, "(left)"), so an English long form counts
only when the acronym's letters are the initials of its words, and a Korean one only when it
is one Hangul word right before the parenthesis. One article can still be odd, so
`DefinitionTally` trusts a pair only once several articles from several sources agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from bot.core.text import compact, normalize

# Small words a long form may skip: "Korea Institute *for* Defense Analyses" is KIDA.
_SMALL_WORDS = frozenset({"a", "an", "and", "at", "by", "de", "for", "in", "of", "on", "the", "to"})
# Articles that may open a parenthesised long form without being part of it.
_ARTICLES = frozenset({"a", "an", "the"})
_HYPHENS = "-\u2010\u2011"
# How far before an acronym its long form may start: ample for 20 words.
_REACH = 400

_OPEN = "[(\uff08]"  # ASCII and full-width parentheses
_CLOSE = "[)\uff09]"
_ACRONYM = r"[A-Za-z0-9](?:[A-Za-z0-9&\-]{0,8}[A-Za-z0-9])?"
# "Korea Institute for Defense Analyses (KIDA)" and "한국국방연구원(KIDA)".
_LONG_THEN_SHORT = re.compile(rf"{_OPEN}\s*({_ACRONYM})\s*{_CLOSE}")
# "KIDA (Korea Institute for Defense Analyses)" and "KIDA(한국국방연구원)".
_SHORT_THEN_LONG = re.compile(
    rf"(?<![^\W_])({_ACRONYM})\s*{_OPEN}([^()\uff08\uff09]{{2,200}}){_CLOSE}"
)
# "the Korea Institute for Defense Analyses, or KIDA, said".
_OR_SHORT = re.compile(rf",\s+or\s+({_ACRONYM})(?=\s*(?:[,.;:!?)\uff09]|$))")

# A Hangul long form: one word of 2-20 syllables; as a suffix, not the tail of a longer word.
_HANGUL_NAME = re.compile(r"[가-힣]{2,20}")
_HANGUL_BEFORE = re.compile(r"(?<![^\W_])[가-힣]{2,20}\Z")
# A word of a long form: letters and digits, joined by hyphens or apostrophes ("People's").
_WORD = re.compile(rf"[^\W_]+(?:[{_HYPHENS}'\u2019][^\W_]+)*")
# Where a long form cannot reach back past: clause punctuation, a blank line, or a full stop
# after a sentence ("Forces. The") but not after an initial ("U.S. Forces Korea").
_CLAUSE_END = re.compile(
    r"[!?;:()\[\]{}\"\u201c\u201d\uff08\uff09]|\n\s*\n|(?<!\b[A-Za-z])\.(?=\s|$)"
)


@dataclass(frozen=True)
class Definition:
    """An acronym (`short`) and the name it stands for (`long`), as written in an article."""

    short: str
    long: str


def find_definitions(text: str) -> list[Definition]:
    """Every acronym definition in `text`, once each, in order of appearance.

    Recognises "Long Form (LF)", "LF (Long Form)", "the Long Form, or LF," and the Korean
    "한국어이름(LF)" / "LF(한국어이름)". An English long form is trimmed to the words that
    explain the acronym ("the state-run Korea Institute for Defense Analyses (KIDA)" gives
    "Korea Institute for Defense Analyses"). Never raises.
    """
    found: list[tuple[int, Definition]] = []
    for match in _LONG_THEN_SHORT.finditer(text):
        short, prefix = match.group(1), _before(text, match.start())
        if not _is_acronym(short):
            continue
        hangul = _HANGUL_BEFORE.search(prefix)
        long = hangul.group() if hangul else _long_before(short, prefix)
        if long:
            found.append((match.start(), Definition(short, long)))
    for match in _OR_SHORT.finditer(text):
        short = match.group(1)
        long = _long_before(short, _before(text, match.start()))
        if long:
            found.append((match.start(), Definition(short, long)))
    for match in _SHORT_THEN_LONG.finditer(text):
        short, inside = match.groups()
        if not _is_acronym(short):
            continue
        long = _long_inside(short, inside)
        if long:
            found.append((match.start(), Definition(short, long)))
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(definition for _start, definition in found))


def explains(short: str, long: str) -> bool:
    """Whether `long` is an English long form of the acronym `short`, word for word.

    The acronym's letters and digits must come, in order, from the words of `long`: each
    word gives its initial and possibly more letters from its capitals, hyphenated parts
    and digits ("ICT", "AeroSpace", "Co-operation", "20"); only small words such as "for"
    and "of" may give none, and `long` may not start or end with one. `long` needs two
    words at least and must be more than the acronym spelled with dots ("U.S.").
    """
    words = _WORD.findall(long)
    return (
        _is_acronym(short)
        and len(words) >= 2
        and compact(long) != compact(short)
        and _fits(_letters(short), tuple(words))
    )


def _is_acronym(text: str) -> bool:
    """2-10 characters, mostly capitals and digits with at least one capital: not "(left)"."""
    upper = sum(char.isupper() for char in text)
    lower = sum(char.islower() for char in text)
    digits = sum(char.isdigit() for char in text)
    return len(_letters(text)) >= 2 and len(text) <= 10 and upper >= 1 and upper + digits > lower


def _letters(short: str) -> str:
    """The characters of an acronym that long-form words must explain: "R&D" -> "rd"."""
    return "".join(char for char in short if char.isalnum()).lower()


def _before(text: str, end: int) -> str:
    """The text a long form ending at `end` can reach, from a word start.

    Bounded, so an article with many parentheses is not rescanned from its start for each.
    """
    if end <= _REACH:
        return text[:end]
    space = text.find(" ", end - _REACH, end)
    return text[space + 1 : end] if space >= 0 else ""


def _long_before(short: str, prefix: str) -> str | None:
    """The fewest words ending `prefix` that explain `short`, within the last clause."""
    clause = prefix[max((m.end() for m in _CLAUSE_END.finditer(prefix)), default=0) :]
    words = list(_WORD.finditer(clause))
    if not words or clause[words[-1].end() :].strip():
        return None  # the long form must end right before the parenthesis or comma
    letters = _letters(short)
    reach = min(len(letters) + 5, 2 * len(letters))  # Schwartz & Hearst's window
    for start in range(len(words) - 1, max(len(words) - reach, 0) - 1, -1):
        long = " ".join(clause[words[start].start() : words[-1].end()].split())
        if explains(short, long):
            return long
    return None


def _long_inside(short: str, inside: str) -> str | None:
    """The parenthesised long form after `short`: one Hangul word, or words that explain it."""
    inside = inside.strip()
    if _HANGUL_NAME.fullmatch(inside):
        return inside
    words = list(_WORD.finditer(inside))
    while words and words[0].group().casefold() in _ARTICLES:
        words.pop(0)
    if not words or inside[words[-1].end() :].strip(" .,"):
        return None  # trailing words ("founded 1949") mean this is not just the name
    long = " ".join(inside[words[0].start() : words[-1].end()].split())
    return long if explains(short, long) else None


def _starts(word: str) -> str:
    """The characters of a word that may stand in an acronym, lower-cased, initial first."""
    return "".join(
        char
        for index, char in enumerate(word)
        if index == 0 or word[index - 1] in _HYPHENS or char.isupper() or char.isdigit()
    ).lower()


def _fits(letters: str, words: tuple[str, ...]) -> bool:
    """Whether `words`, all of them in order, explain `letters` (see `explains`)."""
    starts = [_starts(word) for word in words]
    small = [word.casefold() in _SMALL_WORDS for word in words]
    if small[0] or small[-1]:
        return False

    @cache
    def fit(word: int, letter: int) -> bool:
        """Whether words[word:] explain letters[letter:]."""
        if word == len(words):
            return letter == len(letters)
        if small[word] and fit(word + 1, letter):
            return True
        own = starts[word]
        if letter == len(letters) or own[0] != letters[letter]:
            return False
        # The initial, then the next `taken` letters found in order among the other starts.
        taken, position = 0, 1
        while True:
            if fit(word + 1, letter + 1 + taken):
                return True
            following = letter + 1 + taken
            if following == len(letters):
                return False
            position = own.find(letters[following], position) + 1
            if position == 0:
                return False
            taken += 1

    return fit(0, 0)


@dataclass
class _Sightings:
    definition: Definition
    articles: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)


class DefinitionTally:
    """Where each definition was seen, so only those that recur become aliases.

    One article's odd parenthesis, or one source's house style, must not teach the bot an
    alias, so a pair is trusted only once enough distinct articles and sources agree. Pure
    and in memory: a store keeps (short, long, article, source) rows and replays them here.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], _Sightings] = {}

    def add(self, definition: Definition, *, article: str, source: str) -> None:
        """Record one sighting; the same article or source again adds nothing.

        Pairs are compared by `normalize`d names; the first spelling seen is kept.
        """
        key = (normalize(definition.short), normalize(definition.long))
        sightings = self._seen.setdefault(key, _Sightings(definition))
        sightings.articles.add(article)
        sightings.sources.add(source)

    def trusted(self, min_articles: int = 3, min_sources: int = 2) -> list[Definition]:
        """The definitions seen in at least `min_articles` articles and `min_sources` sources."""
        return [
            sightings.definition
            for sightings in self._seen.values()
            if len(sightings.articles) >= min_articles and len(sightings.sources) >= min_sources
        ]

    def to_groups(self, min_articles: int = 3, min_sources: int = 2) -> list[tuple[str, str]]:
        """The trusted definitions as (short, long) alias groups for `AliasTable.from_groups`.

        One group per pair, never merged by acronym, so two meanings of one acronym do not
        become aliases of each other (`AliasTable.expand` goes one hop only).
        """
        return [
            (definition.short, definition.long)
            for definition in self.trusted(min_articles, min_sources)
        ]
