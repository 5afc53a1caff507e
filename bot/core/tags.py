"""What a followed tag is: its identity, its display name and the terms it matches."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.core.aliases import AliasTable
from bot.core.text import normalize

MAX_TAG_LENGTH = 100

# Commas (ASCII and full-width, as Korean and CJK keyboards type them) and line breaks.
_SEPARATORS = re.compile(r"[,\uff0c\r\n\x0b\x0c\x85\u2028\u2029]+")
# Telegram hashtags hold only letters, digits and `_`.
_NOT_HASHTAG = re.compile(r"\W+")


class TagError(ValueError):
    """A tag the user typed cannot be followed; the message is shown to them as is."""


@dataclass(frozen=True)
class Tag:
    """A followed tag: `key` is its identity in the store, `name` as typed, `terms` matched.

    `terms` are normalized (see `bot.core.text.normalize`), the tag's own key first, then the
    other names of its alias groups.
    """

    key: str
    name: str
    terms: tuple[str, ...]


def split_tags(text: str) -> list[str]:
    """The tags of one `/follow` argument: comma or line separated, trimmed, first of equals kept.

    A part with no letters or digits (e.g. "!!!") is kept, so `make_tag` can tell the user why
    it was refused instead of dropping it silently.
    """
    tags: dict[str, str] = {}
    for part in _SEPARATORS.split(text):
        name = part.strip()
        if name:
            tags.setdefault(normalize(name) or name, name)
    return list(tags.values())


def make_tag(name: str, aliases: AliasTable) -> Tag:
    """Build the tag a user asked for, or raise TagError saying what is wrong with it."""
    name = " ".join(name.split())
    key = normalize(name)
    shown = name if len(name) <= 30 else name[:29] + "…"
    if not key:
        raise TagError(f"“{shown}” has no letters or digits to match, so it can't be a tag.")
    # The key can outgrow the name (NFKC expands some characters); both go into the store.
    if max(len(name), len(key)) > MAX_TAG_LENGTH:
        raise TagError(f"“{shown}” is too long for a tag: keep it to {MAX_TAG_LENGTH} characters.")
    terms = (normalize(alias) for alias in aliases.expand(name))
    return Tag(key=key, name=name, terms=tuple(dict.fromkeys(terms)))


def hashtag(name: str) -> str:
    """The Telegram hashtag shown for a tag: "Hanwha Aerospace" -> "#HanwhaAerospace".

    Words are split on whitespace only and each word of a multi-word name gets an upper-case
    first letter so the joined words stay readable; the rest is kept as typed (no "#Kida").
    Punctuation inside a word is dropped without a capital ("K2-tank" -> "#K2tank"), since it
    joins parts of one word. A single word keeps its case ("kida" -> "#kida"). Returns ""
    when nothing is left to show.
    """
    words = [_NOT_HASHTAG.sub("", word) for word in unicodedata.normalize("NFKC", name).split()]
    words = [word for word in words if word]
    if len(words) > 1:
        words = [word[0].upper() + word[1:] for word in words]
    return "#" + "".join(words) if words else ""
