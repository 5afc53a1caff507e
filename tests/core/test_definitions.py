"""Learning aliases from articles: acronym definitions, their noise guard and the tally."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.aliases import AliasTable
from bot.core.definitions import Definition, DefinitionTally, explains, find_definitions

KIDA = Definition("KIDA", "Korea Institute for Defense Analyses")
KIDA_KO = Definition("KIDA", "한국국방연구원")
HANGUL_NAME = re.compile(r"[가-힣]{2,20}")


# --- English definitions ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a study by the Korea Institute for Defense Analyses (KIDA) found", [KIDA]),
        ("KIDA (Korea Institute for Defense Analyses) said on Monday", [KIDA]),
        ("KIDA (the Korea Institute for Defense Analyses) said", [KIDA]),
        ("the Korea Institute for Defense Analyses, or KIDA, said", [KIDA]),
        ("according to the Korea Institute for Defense Analyses, or KIDA.", [KIDA]),
        ("Korea Institute for Defense Analyses\uff08KIDA\uff09", [KIDA]),  # full-width
        ("Korea Institute\nfor  Defense Analyses (KIDA)", [KIDA]),  # spacing collapsed
        ("KIDA (Korea Institute for Defense Analyses) and again KIDA (Korea Institute for "
         "Defense Analyses)", [KIDA]),  # once each
        # Trimmed to the words that explain the acronym, not the whole sentence.
        ("Seoul's state-funded Korea Institute for Defense Analyses (KIDA)", [KIDA]),
        ("the Office of the United Nations High Commissioner for Refugees (UNHCR)",
         [Definition("UNHCR", "United Nations High Commissioner for Refugees")]),
        # Small words skipped, or used when the acronym has their letter.
        ("the Defense Acquisition Program Administration (DAPA)",
         [Definition("DAPA", "Defense Acquisition Program Administration")]),
        ("the Bank of Korea (BOK)", [Definition("BOK", "Bank of Korea")]),
        ("the Ministry of Land, Infrastructure and Transport (MOLIT)",
         [Definition("MOLIT", "Ministry of Land, Infrastructure and Transport")]),
        ("research and development (R&D)", [Definition("R&D", "research and development")]),
        # Letters from inside CamelCase, hyphenated and all-capital words, and digits.
        ("Korea AeroSpace Administration (KASA)",
         [Definition("KASA", "Korea AeroSpace Administration")]),
        ("Organisation for Economic Co-operation and Development (OECD)",
         [Definition("OECD", "Organisation for Economic Co-operation and Development")]),
        ("Agence France-Presse (AFP)", [Definition("AFP", "Agence France-Presse")]),
        ("the Ministry of Science and ICT (MSIT)",
         [Definition("MSIT", "Ministry of Science and ICT")]),
        ("the Group of 20 (G20) summit", [Definition("G20", "Group of 20")]),
        ("Defense Agency for Technology and Quality (DTaQ)", []),  # letters out of order
        # Initials with full stops do not end the clause; possessives and ampersands are fine.
        ("U.S. Forces Korea (USFK)", [Definition("USFK", "U.S. Forces Korea")]),
        ("the Democratic People's Republic of Korea (DPRK)",
         [Definition("DPRK", "Democratic People's Republic of Korea")]),
        ("Korea Hydro & Nuclear Power (KHNP)",
         [Definition("KHNP", "Korea Hydro & Nuclear Power")]),
        ("NATO (North Atlantic Treaty Organization) and the Joint Chiefs of Staff (JCS)",
         [Definition("NATO", "North Atlantic Treaty Organization"),
          Definition("JCS", "Joint Chiefs of Staff")]),
        ("the Associated Press (AP)", [Definition("AP", "Associated Press")]),
    ],
)  # fmt: skip
def test_english_definitions(text: str, expected: list[Definition]) -> None:
    assert find_definitions(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # Dates, numbers and stock codes.
        "the deal signed in Seoul (2024) was",
        "Hanwha Aerospace (012450) shares rose",
        "on Tuesday (KST) the ministry said",
        # Wire credits and agencies in parentheses that the words before do not explain.
        "SEOUL (AP) - North Korea fired",
        "SEOUL, Jan 5 (Reuters) - North Korea fired",
        "North Korea fired a missile, the military said (JCS).",
        "said a senior official at the ministry (MND)",
        "a photo (AP) of the launch",  # a long form does not start with a small word
        # Ordinary parentheses and lower-case words.
        "President Lee (left) and Prime Minister Kim (right)",
        "a report (in Korean) by the institute",
        "the Korea Institute for Defense Analyses (kida)",
        "the think tank (see below) said",
        "NATO (founded in 1949) said",
        "NATO (North Atlantic Treaty Organization, founded in 1949)",
        # Not explained, or the acronym itself spelled with dots.
        "the United States (UK)",
        "the U.S. (US) said",
        "Korea Institute for Defense Analyses. (KIDA)",  # the sentence ended
        "Korea Institute for Defense Analyses\n\n(KIDA)",  # so did the paragraph
        "intercontinental ballistic missile (ICBM)",  # C is inside a word: a known miss
        "KIDA, or the institute, said",
        "",
    ],
)
def test_not_definitions(text: str) -> None:
    assert find_definitions(text) == []


# --- Korean definitions ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("한국국방연구원(KIDA)은 13일 보고서를 냈다", [KIDA_KO]),
        ("KIDA(한국국방연구원)는 밝혔다", [KIDA_KO]),
        ("KIDA (한국국방연구원) 보고서", [KIDA_KO]),
        ("국방부 산하 한국국방연구원(KIDA)에 따르면", [KIDA_KO]),  # the word before only
        ("미국 전략국제문제연구소(CSIS)", [Definition("CSIS", "전략국제문제연구소")]),
        ("한국국방연구원(KIDA)과 방위사업청(DAPA)",
         [KIDA_KO, Definition("DAPA", "방위사업청")]),
        ("한국국방연구원(Korea Institute for Defense Analyses·KIDA)", []),
        # Not one Hangul word of 2-20 syllables right before the parenthesis.
        ("한국국방연구원 (KIDA)", []),
        ("군(KIDA)", []),
        ("가" * 21 + "(KIDA)", []),
        ("2024년(KIDA)", []),
        ("SK하이닉스(SKH)", []),
        ("KIDA(한국 국방 연구원)", []),
        ("한국국방연구원(kida)", []),
        ("삼성전자(005930)", []),
    ],
)  # fmt: skip
def test_korean_definitions(text: str, expected: list[Definition]) -> None:
    assert find_definitions(text) == expected


# --- explains ---


@pytest.mark.parametrize(
    ("short", "long", "expected"),
    [
        ("KIDA", "Korea Institute for Defense Analyses", True),
        ("KIDA", "korea institute for defense analyses", True),
        ("DAPA", "Defense Acquisition Program Administration", True),
        ("KIDA", "Korea Institute Defense", False),  # a letter left over
        ("KID", "Korea Institute for Defense Analyses", False),  # a word left over
        ("KIDA", "Korea Institute for Defense Analyses of", False),  # ends on a small word
        ("KIDA", "KIDA", False),
        ("US", "U.S.", False),
        ("KIDA", "한국국방연구원", False),  # a Hangul long form is checked by its shape
        ("kida", "Korea Institute for Defense Analyses", False),  # not an acronym
    ],
)
def test_explains(short: str, long: str, expected: bool) -> None:
    assert explains(short, long) is expected


# --- the tally ---


def test_tally_trusts_a_pair_after_enough_articles_and_sources() -> None:
    tally = DefinitionTally()
    tally.add(KIDA, article="a1", source="yonhap")
    tally.add(KIDA, article="a2", source="yonhap")
    assert tally.trusted() == []
    tally.add(KIDA, article="a3", source="yonhap")
    assert tally.trusted() == []  # three articles, one source
    tally.add(KIDA, article="a4", source="korea-herald")
    assert tally.trusted() == [KIDA]
    assert tally.trusted(min_articles=5) == []
    assert tally.trusted(min_articles=1, min_sources=3) == []


def test_tally_counts_each_article_once() -> None:
    tally = DefinitionTally()
    for _ in range(5):
        tally.add(KIDA, article="a1", source="yonhap")
        tally.add(KIDA, article="a1", source="korea-herald")
    assert tally.trusted(min_articles=2, min_sources=2) == []
    assert tally.trusted(min_articles=1, min_sources=2) == [KIDA]


def test_tally_merges_spellings_and_keeps_the_first() -> None:
    tally = DefinitionTally()
    tally.add(KIDA, article="a1", source="s1")
    tally.add(
        Definition("KIDA", "Korea Institute for Defense  Analyses"), article="a2", source="s2"
    )
    tally.add(Definition("KIDA", "korea institute for defense analyses"), article="a3", source="s2")
    assert tally.trusted() == [KIDA]


def test_tally_keeps_pairs_apart() -> None:
    tally = DefinitionTally()
    csis_ko = Definition("CSIS", "전략국제문제연구소")
    csis_en = Definition("CSIS", "Center for Strategic and International Studies")
    for number in range(3):
        for definition in (KIDA, csis_ko, csis_en):
            tally.add(definition, article=f"a{number}", source=f"s{number}")
    tally.add(KIDA_KO, article="a9", source="s9")  # seen once: not trusted
    assert tally.to_groups() == [
        ("KIDA", "Korea Institute for Defense Analyses"),
        ("CSIS", "전략국제문제연구소"),
        ("CSIS", "Center for Strategic and International Studies"),
    ]


def test_tally_groups_feed_an_alias_table() -> None:
    tally = DefinitionTally()
    for number, source in enumerate(["yonhap", "korea-herald", "yonhap"]):
        for definition in find_definitions(
            "한국국방연구원(KIDA)은 KIDA (Korea Institute for Defense Analyses) 보고서"
        ):
            tally.add(definition, article=f"a{number}", source=source)
    table = AliasTable.from_groups(tally.to_groups())
    assert table.expand("KIDA") == (
        "KIDA",
        "한국국방연구원",
        "Korea Institute for Defense Analyses",
    )
    assert table.expand("한국국방연구원") == ("한국국방연구원", "KIDA")


def test_an_empty_tally_trusts_nothing() -> None:
    assert DefinitionTally().to_groups() == []


# --- properties ---

_PIECES = st.sampled_from([
    "Korea", "Institute", "for", "of", "the", "and", "Defense", "Analyses", "Co-operation",
    "AeroSpace", "ICT", "20", "U.S.", "People's", "한국국방연구원", "국방부", "2024년",
    "(", ")", "\uff08", "\uff09", "(KIDA)", "KIDA", "(AP)", "AP", "(left)", "(2024)", "G20", "R&D",
    ", or", ",", ".", ";", "\n", "·", "&", "-", "'", "#KIDA",
])  # fmt: skip
_TEXTS = st.one_of(
    st.text(),
    st.lists(_PIECES, max_size=40).map(" ".join),
    st.lists(_PIECES, max_size=40).map("".join),
)


@given(_TEXTS)
def test_find_definitions_never_raises_and_every_result_is_explained(text: str) -> None:
    for definition in find_definitions(text):
        assert definition.short in text
        if HANGUL_NAME.fullmatch(definition.long):
            assert definition.long in text
        else:
            assert explains(definition.short, definition.long), definition


@given(st.text(), st.text())
def test_explains_never_raises(short: str, long: str) -> None:
    explains(short, long)
