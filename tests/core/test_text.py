"""normalize/compact: the one spelling that tags, matching and dedup compare."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.text import compact, normalize


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
