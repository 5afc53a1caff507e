"""What a followed tag is: its identity, its display name and the terms it matches.

A tag is typed as in a search box. Words next to each other make one phrase; quotes do
too, and keep `OR` or a leading `-` as plain words; `OR` (upper case) separates
alternatives; `-word` or `-"a phrase"` leaves out articles that mention it:
`K2 tank -toy`, `"LIG Nex1" OR LIG넥스원`. An unclosed quote runs to the end of the tag.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from bot.core.aliases import AliasTable
from bot.core.text import normalize

MAX_TAG_LENGTH = 100

_QUOTES = '"\u201c\u201d\u201e\u201f\uff02'  # straight, typographic and full-width
_MINUS = "\\-\u2212\uff0d"  # hyphen-minus, minus sign, full-width; not the dashes of prose
_LINE_BREAKS = "\r\n\x0b\x0c\x85\u2028\u2029"
# Commas (ASCII and full-width, as Korean and CJK keyboards type them) and line breaks
# separate tags, except commas inside a closed pair of quotes ("Samsung, Inc.").
_TAG_PART = re.compile(
    rf"(?:[{_QUOTES}][^{_QUOTES}{_LINE_BREAKS}]*[{_QUOTES}]|[^,\uff0c{_LINE_BREAKS}])+"
)
_TOKEN = re.compile(
    rf"(?P<minus>[{_MINUS}])?"
    rf"(?:[{_QUOTES}](?P<quoted>[^{_QUOTES}]*)[{_QUOTES}]?|(?P<word>[^\s{_QUOTES}]+))"
)
_OR = "OR"
# Telegram hashtags hold only letters, digits and `_`.
_NOT_HASHTAG = re.compile(r"\W+")


class TagError(ValueError):
    """A tag the user typed cannot be followed; the message is shown to them as is."""


@dataclass(frozen=True)
class Tag:
    """A followed tag: `key` is its identity in the store, `name` as typed, `terms` matched.

    `terms` are normalized (see `bot.core.text.normalize`): each alternative followed by
    the other names of its alias groups, the first alternative first. `exclude` holds the
    normalized terms (with their aliases) whose presence vetoes a match.
    """

    key: str
    name: str
    terms: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Query:
    """A tag as typed, taken apart: its phrases (split by OR) and its exclusions, as typed."""

    phrases: tuple[str, ...]
    exclusions: tuple[str, ...]

    @classmethod
    def parse(cls, name: str) -> _Query:
        """Never fails: whatever was typed has a reading; `make_tag` judges whether it is sane."""
        phrases: list[list[str]] = [[]]
        exclusions = []
        for token in _TOKEN.finditer(name):
            quoted, word = token["quoted"], token["word"]
            text = " ".join((word if quoted is None else quoted).split())
            if token["minus"]:
                exclusions.append(text)
            elif word == _OR:
                phrases.append([])
            elif text:
                phrases[-1].append(text)
        return cls(tuple(" ".join(words) for words in phrases), tuple(exclusions))

    @functools.cached_property
    def looked_for(self) -> tuple[str, ...]:
        """The normalized phrases, once each, in typed order; empty ones left out."""
        return _unique_terms(self.phrases)

    @functools.cached_property
    def left_out(self) -> tuple[str, ...]:
        """The normalized exclusions, once each; ones with nothing to match left out."""
        return _unique_terms(self.exclusions)

    def key(self) -> str:
        """The canonical spelling: equal for any two ways of typing the same query.

        A plain tag's key is `normalize(name)`, as it always was. A query's key holds an
        upper-case OR or a word starting with `-`, which `normalize` never produces, so a
        query never shares a key with a plain tag.
        """
        looked_for, left_out = self.looked_for, self.left_out
        if len(looked_for) == 1 and not left_out:
            return looked_for[0]
        key = f" {_OR} ".join(sorted(looked_for))
        return key + "".join(
            f' -"{term}"' if " " in term else f" -{term}" for term in sorted(left_out)
        )


def _unique_terms(texts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(term for term in dict.fromkeys(map(normalize, texts)) if term)


def split_tags(text: str) -> list[str]:
    """The tags of one `/follow` argument: comma or line separated, trimmed, first of equals kept.

    A part with no letters or digits (e.g. "!!!") is kept, so `make_tag` can tell the user why
    it was refused instead of dropping it silently.
    """
    tags: dict[str, str] = {}
    for part in _TAG_PART.findall(text):
        name = part.strip()
        if name:
            tags.setdefault(_Query.parse(name).key() or name, name)
    return list(tags.values())


def make_tag(name: str, aliases: AliasTable) -> Tag:
    """Build the tag a user asked for, or raise TagError saying what is wrong with it."""
    name = " ".join(name.split())
    shown = name if len(name) <= 30 else name[:29] + "…"
    query = _Query.parse(name)
    looked_for = query.looked_for
    if len(query.phrases) > 1 and not all(map(normalize, query.phrases)):
        raise TagError(
            f"“{shown}” needs a word or phrase on each side of OR, as in: “LIG Nex1” OR LIG넥스원."
        )
    if not looked_for:
        if query.left_out:
            raise TagError(
                f"“{shown}” only says what to leave out: add what to look for, as in: K2 tank -toy."
            )
        raise TagError(f"“{shown}” has no letters or digits to match, so it can't be a tag.")
    key = query.key()
    # The key can outgrow the name (NFKC expands some characters); both go into the store.
    if max(len(name), len(key)) > MAX_TAG_LENGTH:
        raise TagError(f"“{shown}” is too long for a tag: keep it to {MAX_TAG_LENGTH} characters.")
    terms = _expanded(query.phrases, aliases)
    exclude = _expanded(query.exclusions, aliases)
    clash = next((term for term in exclude if term in looked_for), None)
    if clash is not None:
        raise TagError(f"“{shown}” both looks for and leaves out “{clash}”.")
    return Tag(key=key, name=name, terms=terms, exclude=exclude)


def _expanded(names: tuple[str, ...], aliases: AliasTable) -> tuple[str, ...]:
    """Each name's normalized form and its aliases', once each, empty ones left out."""
    return _unique_terms(tuple(alias for name in names for alias in aliases.expand(name)))


def typed_terms(name: str) -> tuple[str, ...]:
    """The normalized phrases typed in a tag name, without aliases; never raises.

    Tells an alias match ("matched Korea Institute for Defense Analyses") from a match of
    what the person typed.
    """
    return _Query.parse(name).looked_for


def describe(tag: Tag, aliases: AliasTable) -> str:
    """How a tag was understood, as plain text for the reply to /follow and /list.

    `KIDA = Korea Institute for Defense Analyses, 한국국방연구원`, `"K2 tank" (not: toy)`,
    `"LIG Nex1" OR LIG넥스원`: phrases in quotes, aliases after `=`, exclusions at the end.
    """
    query = _Query.parse(tag.name)
    text = _described(query.phrases, aliases, " OR ")
    left_out = _described(query.exclusions, aliases, ", ")
    return f"{text} (not: {left_out})" if left_out else text


def _described(names: tuple[str, ...], aliases: AliasTable, separator: str) -> str:
    """The names joined by `separator`, each with the aliases not shown yet.

    A name equal to an earlier one (or to one of its aliases) is left out, so
    `"LIG Nex1" OR LIG넥스원` does not list each as the other's alias too.
    """
    shown: set[str] = set()
    parts: list[tuple[str, list[str]]] = []
    for name in names:
        own = normalize(name)
        if not own or own in shown:
            continue
        others = [alias for alias in aliases.expand(name)[1:] if normalize(alias) not in shown]
        shown.update(normalize(alias) for alias in (name, *others))
        parts.append((f'"{name}"' if len(name.split()) > 1 else name, others))
    bracket = len(parts) > 1
    return separator.join(_equation(text, others, bracket=bracket) for text, others in parts)


def _equation(text: str, others: list[str], *, bracket: bool) -> str:
    """`KIDA = Korea Institute for Defense Analyses, 한국국방연구원`, bracketed in a list."""
    if not others:
        return text
    equation = f"{text} = {', '.join(others)}"
    return f"({equation})" if bracket else equation


def hashtag(name: str) -> str:
    """The Telegram hashtag shown for a tag: "Hanwha Aerospace" -> "#HanwhaAerospace".

    A query shows its first phrase ("K2 tank -toy" -> "#K2Tank"). Words are split on
    whitespace only and each word of a multi-word name gets an upper-case first letter so
    the joined words stay readable; the rest is kept as typed (no "#Kida"). Punctuation
    inside a word is dropped without a capital ("K2-tank" -> "#K2tank"), since it joins
    parts of one word. A single word keeps its case ("kida" -> "#kida"). Returns "" when
    nothing is left to show.
    """
    first = next((phrase for phrase in _Query.parse(name).phrases if phrase), "")
    words = [_NOT_HASHTAG.sub("", word) for word in unicodedata.normalize("NFKC", first).split()]
    words = [word for word in words if word]
    if len(words) > 1:
        words = [word[0].upper() + word[1:] for word in words]
    return "#" + "".join(words) if words else ""
