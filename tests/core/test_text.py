"""normalize/compact/searchable: the one spelling that tags, matching and dedup compare."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.text import (
    FIELD_BREAK,
    compact,
    endings_after,
    normalize,
    plural,
    searchable,
    unescape_leftovers,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("KIDA's", "kida s"),
        ("KIDA\u2019s", "kida s"),  # typographic apostrophe
        ("K2-tank", "k2 tank"),
        ("K2\u2010tank", "k2 tank"),  # Unicode hyphen
        ("K2 — tank", "k2 tank"),
        ("k2_tank", "k2 tank"),
        (
            "  Korea\nInstitute\t for  Defense\r\nAnalyses!  ",
            "korea institute for defense analyses",
        ),
        ("\uff2b\uff29\uff24\uff21", "kida"),  # full-width letters (NFKC)
        ("Straße", "strasse"),  # casefold, not lower
        ("한국국방연구원(KIDA)", "한국국방연구원 kida"),
        ("#KIDA", "kida"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_compact_joins_camel_case_hashtags_and_spelled_out_names() -> None:
    assert compact("#KoreaInstituteforDefenseAnalyses") == "koreainstitutefordefenseanalyses"
    assert compact("Korea Institute for Defense Analyses") == compact(
        "#KoreaInstituteforDefenseAnalyses"
    )
    assert compact("K2-tank") == compact("K2 tank") == "k2tank"


@given(st.text())
def test_normalize_is_single_spaced_idempotent_and_compact_agrees(text: str) -> None:
    normal = normalize(text)
    assert normal == normal.strip()
    assert "  " not in normal
    assert normalize(normal) == normal
    assert compact(text) == normal.replace(" ", "")


# The one-regex definition normalize had before it was made fast; it still is the spec.
def _reference(text: str) -> str:
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


typography = st.sampled_from(["\u2019", "\u201c", "\u2014", "\u00b7", "\xa0", "_", "\x1e", "&"])
mixed = st.lists(st.one_of(typography, st.text(max_size=8)), max_size=12).map("".join)


@given(st.one_of(st.text(), mixed))
def test_normalize_is_the_one_regex_definition(text: str) -> None:
    assert normalize(text) == _reference(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NATO는 밝혔다", "nato 는 밝혔다"),  # Latin running into Hangul is a boundary
        ("K2전차", "k2 전차"),
        ("2025년", "2025 년"),
        ("한국KIDA", "한국kida"),  # Hangul into Latin is not
        ("AT&amp;T", "at t"),  # an entity the feed escaped twice
        ("R&D &notice", "r d notice"),  # not entities
        (f"a {FIELD_BREAK} b", f"a {FIELD_BREAK} b"),  # kept, as its own word
        ("KIDA's", "kida s"),
    ],
)
def test_searchable(raw: str, expected: str) -> None:
    assert searchable(raw) == expected


@given(st.one_of(st.text(), mixed).filter(lambda text: FIELD_BREAK not in text))
def test_searchable_only_adds_spaces_to_normalize(text: str) -> None:
    assert searchable(text).replace(" ", "") == compact(unescape_leftovers(text))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AT&amp;T", "AT&T"),
        ("it&#39;s &#x41;", "it's A"),
        ("R&D", "R&D"),
        ("&notice", "&notice"),
        ("&nosuchentity;", "&nosuchentity;"),
    ],
)
def test_unescape_leftovers(raw: str, expected: str) -> None:
    assert unescape_leftovers(raw) == expected


@pytest.mark.parametrize(
    ("word", "present", "absent"),
    [
        (
            "한국국방연구원",
            {"은", "이", "을", "과", "으로", "의", "에서는", "장"},
            {"는", "가", "로"},
        ),
        ("삼성전자", {"는", "가", "를", "와", "로", "의", "의장"}, {"은", "이", "으로"}),
        ("서울", {"은", "이", "로", "로는"}, {"는", "으로"}),  # ㄹ takes 로
    ],
)
def test_endings_fit_the_last_sound(word: str, present: set[str], absent: set[str]) -> None:
    endings = set(endings_after(word))
    assert present <= endings
    assert not absent & endings


@pytest.mark.parametrize("word", ["국", "kida", "k2 전", "전차k", ""])
def test_no_endings_after_one_syllable_or_latin(word: str) -> None:
    assert endings_after(word) == ()


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("k2 tank", "k2 tanks"),
        ("drone", "drones"),
        ("policy", "policies"),
        ("day", "days"),
        ("tax", "taxes"),
        ("church", "churches"),
        ("icbm", "icbms"),
        ("jcs", ""),  # ends in s: plural already, or an acronym
        ("k2", ""),
        ("전차", ""),
        ("", ""),
    ],
)
def test_plural(term: str, expected: str) -> None:
    assert plural(term) == expected
