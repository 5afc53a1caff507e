"""Text normalization shared by tags, matching and dedup, so all of them compare alike.

Everything here runs over every article field and every tag term, so it is built from
C-speed string operations (NFKC, casefold, byte translation, a few compiled regexes that
rarely match): no per-character or per-word Python loop.
"""

from __future__ import annotations

import html
import re
import unicodedata

FIELD_BREAK = "\x1e"
"""Joins the fields of an article for `searchable`, which keeps it as a word of its own, so
a phrase never matches across two fields. It is a control character that XML 1.0 cannot
carry, so feed text never holds one."""


def _ascii_table(keep: str = "") -> bytes:
    """A `bytes.translate` table turning ASCII other than letters, digits and `keep`
    (punctuation, `_`, whitespace, control characters) into spaces."""
    return bytes(
        byte if byte < 0x80 and (chr(byte).isalnum() or chr(byte) in keep) else 0x20
        for byte in range(256)
    )


_ASCII_TO_SPACE = _ascii_table()
_ASCII_TO_SPACE_BUT_BREAK = _ascii_table(FIELD_BREAK)
# The non-ASCII punctuation English feeds use most (typographic quotes and dashes, the
# middle dot), replaced before casefolding so that most English text becomes ASCII; NFKC
# has already turned no-break spaces and "…" into ASCII.
_TYPOGRAPHY = "\u2019\u2018\u201c\u201d\u2014\u2013\u00b7"
# What else separates words, in text that is not ASCII: punctuation, symbols, spaces and
# line breaks of any script, lone surrogates (`_` is replaced before). One character, not a
# run, so that the regex engine can skip ahead to candidates by its first-character test;
# the ranges come first because they are cheaper than the `\w` lookup.
_NON_WORD = re.compile(r"[^a-z0-9\uac00-\ud7a3\w ]")
_NON_WORD_BUT_BREAK = re.compile(rf"[^a-z0-9\uac00-\ud7a3\w {FIELD_BREAK}]")
# An entity left in text that was escaped twice ("AT&amp;amp;T" parsed once is "AT&amp;T").
# Only the `;`-terminated form: "R&D" or "&notice" are left alone.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# A Latin letter or a digit running into Hangul ("NATO는", "K2전차").
_INTO_HANGUL = re.compile(r"[a-z0-9](?=[\uac00-\ud7a3])")

_FIRST_SYLLABLE = 0xAC00
_LAST_SYLLABLE = 0xD7A3
_FINALS = 28  # each Hangul syllable block is (initial * 21 + medial) * 28 + final
_FINAL_RIEUL = 8  # ㄹ, which takes 로 where other final consonants take 으로

# What Korean news writes straight onto a name: particles (josa), single and stacked, so
# that "한국국방연구원은", "한국국방연구원에서는" count as the name, and the two suffixes
# that name an organisation's head, 장 ("한국국방연구원장") and 의장 ("합참의장"), news
# about the organisation too. A closed list: other suffixes make another word (인 "person
# of", 국 "bureau"). Each ending costs every Hangul-final term about two automaton nodes,
# so the list keeps the ones news writes after names: at 100,000 tags, a third of them
# Korean, these 27 (per term, after the choice of form) take 85 of the index's 145 MB
# (bench/match.py); the 41 particles of a longer list took 130 MB.
# Pairs are (after a final consonant, after a vowel); a ㄹ-final word takes the vowel form
# of 으로/로 ("서울로").
_PARTICLE_PAIRS = (
    ("은", "는"),
    ("이", "가"),
    ("을", "를"),
    ("과", "와"),
    ("과의", "와의"),
    ("이나", "나"),
    ("이다", "다"),
    ("이며", "며"),
    ("이라는", "라는"),
)
_PARTICLE_PAIRS_RO = (("으로", "로"), ("으로는", "로는"))
_ENDINGS_ANY = (
    "의", "에", "에서", "에게", "도", "만", "까지", "부터", "보다", "처럼",
    "에서는", "에서도", "에는", "에도", "장", "의장",
)  # fmt: skip
_ENDINGS_AFTER_CONSONANT = (
    *_ENDINGS_ANY,
    *(consonant for consonant, _vowel in _PARTICLE_PAIRS + _PARTICLE_PAIRS_RO),
)
_ENDINGS_AFTER_RIEUL = (
    *_ENDINGS_ANY,
    *(consonant for consonant, _vowel in _PARTICLE_PAIRS),
    *(vowel for _consonant, vowel in _PARTICLE_PAIRS_RO),
)
_ENDINGS_AFTER_VOWEL = (
    *_ENDINGS_ANY,
    *(vowel for _consonant, vowel in _PARTICLE_PAIRS + _PARTICLE_PAIRS_RO),
)


def _single_spaced(text: str) -> str:
    """Runs of spaces as one space, ends trimmed; `replace` passes beat split-and-join."""
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip(" ")


def normalize(text: str) -> str:
    """Folded words joined by single spaces: `"KIDA's"` -> `"kida s"`, `"K2-tank"` -> `"k2 tank"`.

    NFKC then casefold, so full-width, ligature and case variants become one spelling. A
    word is a run of letters and digits (`\\w` without `_`); everything else, line breaks
    included, separates words. Whole-word matching pads this with spaces, so every word
    boundary is exactly one space.
    """
    return _words(text, _ASCII_TO_SPACE, _NON_WORD)


def _words(text: str, ascii_table: bytes, non_word: re.Pattern[str]) -> str:
    """`normalize`, with the separators given: `searchable` keeps FIELD_BREAK too."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        for mark in _TYPOGRAPHY:
            if mark in text:
                text = text.replace(mark, " ")
    text = text.casefold()
    if text.isascii():
        spaced = text.encode("ascii").translate(ascii_table).decode("ascii")
    else:
        spaced = non_word.sub(" ", text.replace("_", " "))
    return _single_spaced(spaced)


def compact(text: str) -> str:
    """`normalize` without the spaces, to compare CamelCase hashtags and categories with names.

    `"#KoreaInstituteforDefenseAnalyses"` and `"Korea Institute for Defense Analyses"` share it.
    """
    return normalize(text).replace(" ", "")


def unescape_leftovers(text: str) -> str:
    """Decode `&amp;`-style entities left in text that a feed escaped twice."""
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda entity: html.unescape(entity.group()), text)


def searchable(text: str) -> str:
    """`normalize` plus what matching alone needs, so stored tag keys keep their meaning.

    Leftover entities are decoded, FIELD_BREAK is kept, and a Latin letter or digit
    running into Hangul gets a space: Korean writes particles straight after acronyms and
    numbers ("NATO는", "K2전차"), and that is a word boundary.
    """
    words = _words(unescape_leftovers(text), _ASCII_TO_SPACE_BUT_BREAK, _NON_WORD_BUT_BREAK)
    if words.isascii():
        return words
    return _INTO_HANGUL.sub(_spaced_after, words)


def _spaced_after(letter: re.Match[str]) -> str:
    # A function, not the template r"\g<0> ": Python 3.11 expands templates in Python code.
    return letter[0] + " "


def endings_after(word: str) -> tuple[str, ...]:
    """The particles and suffixes that can follow `word` if its last syllable is Hangul.

    Only the form that fits the last syllable's final sound is listed (은 after a
    consonant, 는 after a vowel), which halves the patterns a Korean name adds to the index.
    A one-syllable word takes none: too many Korean words are one syllable plus a
    particle-like syllable (국 + 가 is 국가, "nation").
    """
    if len(word) < 2 or not _FIRST_SYLLABLE <= ord(word[-2]) <= _LAST_SYLLABLE:
        return ()
    code = ord(word[-1]) - _FIRST_SYLLABLE
    if not 0 <= code <= _LAST_SYLLABLE - _FIRST_SYLLABLE:
        return ()
    final = code % _FINALS
    if final == 0:
        return _ENDINGS_AFTER_VOWEL
    if final == _FINAL_RIEUL:
        return _ENDINGS_AFTER_RIEUL
    return _ENDINGS_AFTER_CONSONANT


def plural(term: str) -> str:
    """`term` with its last word in the English plural, or "" if that is not a plain word.

    "k2 tank" -> "k2 tanks", "drone" -> "drones", "policy" -> "policies", "tax" -> "taxes";
    a word ending in s (already plural, or an acronym such as "jcs") gets none. Acronyms
    take an s like any word ("icbm" -> "icbms"); a wrong plural costs nothing, as it never
    occurs in text.
    """
    head, _, word = term.rpartition(" ")
    if not (word.isascii() and word.isalpha()) or word.endswith("s"):
        return ""
    if word.endswith(("x", "z", "ch", "sh")):
        word += "es"
    elif word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        word = word[:-1] + "ies"
    else:
        word += "s"
    return f"{head} {word}" if head else word
