"""Tags as users type them, the alias table behind them, and their hashtags."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from bot.core.aliases import AliasTable
from bot.core.tags import MAX_TAG_LENGTH, Tag, TagError, hashtag, make_tag, split_tags
from bot.core.text import normalize

NO_ALIASES = AliasTable.from_groups([])
KIDA_NAMES = ["KIDA", "Korea Institute for Defense Analyses", "한국국방연구원"]


# --- split_tags ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KIDA", ["KIDA"]),
        ("KIDA, NATO", ["KIDA", "NATO"]),
        ("KIDA\nNATO\r\nIISS", ["KIDA", "NATO", "IISS"]),
        ("KIDA\uff0cNATO", ["KIDA", "NATO"]),  # full-width comma
        (" KIDA ,, ,\n\n NATO ,", ["KIDA", "NATO"]),
        ("KIDA, kida, KIDA's, Kida", ["KIDA", "KIDA's"]),  # first of equal keys kept
        ("Hanwha Aerospace, Korea Institute for Defense Analyses", ["Hanwha Aerospace",
         "Korea Institute for Defense Analyses"]),
        ("!!!, ???, !!!", ["!!!", "???"]),  # kept so make_tag can say why they fail
        ("", []),
        (" , \n ", []),
    ],
)  # fmt: skip
def test_split_tags(text: str, expected: list[str]) -> None:
    assert split_tags(text) == expected


# --- make_tag ---


def test_make_tag_key_name_and_alias_terms() -> None:
    aliases = AliasTable.from_groups([KIDA_NAMES])
    tag = make_tag("  kida ", aliases)
    assert tag == Tag(
        key="kida",
        name="kida",
        terms=("kida", "korea institute for defense analyses", "한국국방연구원"),
    )


def test_make_tag_collapses_inner_whitespace_in_the_name() -> None:
    tag = make_tag(" Hanwha \n  Aerospace ", NO_ALIASES)
    assert tag == Tag(key="hanwha aerospace", name="Hanwha Aerospace", terms=("hanwha aerospace",))


def test_make_tag_from_a_full_name_lists_its_own_key_first() -> None:
    tag = make_tag("Korea Institute for Defense Analyses", AliasTable.from_groups([KIDA_NAMES]))
    assert tag.key == tag.terms[0] == "korea institute for defense analyses"
    assert set(tag.terms) == {normalize(name) for name in KIDA_NAMES}


@pytest.mark.parametrize("name", ["!!!", "   ", "#", "—", "'_'"])
def test_make_tag_without_letters_or_digits_is_refused_readably(name: str) -> None:
    with pytest.raises(TagError, match="no letters or digits"):
        make_tag(name, NO_ALIASES)


def test_make_tag_too_long_is_refused_readably() -> None:
    make_tag("x" * MAX_TAG_LENGTH, NO_ALIASES)
    with pytest.raises(TagError, match=f"keep it to {MAX_TAG_LENGTH} characters") as caught:
        make_tag("x" * (MAX_TAG_LENGTH + 1), NO_ALIASES)
    assert len(str(caught.value)) < 120  # the message does not echo the whole tag


def test_make_tag_refuses_a_name_whose_key_outgrows_the_limit() -> None:
    # U+FDFA is one character that NFKC spells out in 18.
    with pytest.raises(TagError, match="too long"):
        make_tag("\ufdfa" * 10, NO_ALIASES)


def test_tag_error_is_a_value_error() -> None:
    assert issubclass(TagError, ValueError)


# --- hashtag ---


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("KIDA", "#KIDA"),
        ("kida", "#kida"),  # one word keeps its case
        ("Hanwha Aerospace", "#HanwhaAerospace"),
        ("hanwha aerospace", "#HanwhaAerospace"),  # words of a phrase get capitals
        ("Korea Institute for Defense Analyses", "#KoreaInstituteForDefenseAnalyses"),
        ("한국국방연구원", "#한국국방연구원"),
        ("K2-tank", "#K2tank"),  # a hyphen joins parts of one word: no capital
        ("K2 tank", "#K2Tank"),
        ("KIDA's", "#KIDAs"),
        ("iPhone", "#iPhone"),
        ("snake_case", "#snake_case"),
        ("\uff2b\uff29\uff24\uff21", "#KIDA"),
        ("!!!", ""),
    ],
)
def test_hashtag(name: str, expected: str) -> None:
    assert hashtag(name) == expected


# --- AliasTable ---


def test_bundled_table_knows_the_seed_organisations() -> None:
    aliases = AliasTable.load()
    assert len(aliases) >= 20
    assert aliases.expand("KIDA") == tuple(KIDA_NAMES)
    assert "North Atlantic Treaty Organization" in aliases.expand("nato")
    assert "IISS" in aliases.expand("International Institute for Strategic Studies")
    assert "합동참모본부" in aliases.expand("JCS")


def test_bundled_groups_do_not_share_names() -> None:
    # A name in two groups joins unrelated organisations; keep the data file unambiguous.
    raw = resources.files("bot.core").joinpath("aliases.toml").read_text(encoding="utf-8")
    keys = [normalize(name) for group in tomllib.loads(raw)["group"] for name in group["names"]]
    assert len(keys) == len(set(keys))


def test_bundled_table_has_no_bare_un() -> None:
    # "UN" would match every "Kim Jong Un".
    assert "UN" not in AliasTable.load().expand("United Nations")


def test_expand_puts_the_name_first_and_repeats_no_normalized_form() -> None:
    aliases = AliasTable.from_groups([["U.N.", "UN", "United Nations"]])
    assert aliases.expand("united nations") == ("united nations", "U.N.", "UN")


def test_expand_unknown_name_is_just_the_name() -> None:
    assert AliasTable.from_groups([KIDA_NAMES]).expand("Hanwha") == ("Hanwha",)


def test_expand_unions_every_group_containing_the_name() -> None:
    aliases = AliasTable.from_groups(
        [["JCS", "Joint Chiefs of Staff"], ["Joint Chiefs of Staff", "합동참모본부", "합참"]]
    )
    assert aliases.expand("Joint Chiefs of Staff") == (
        "Joint Chiefs of Staff",
        "JCS",
        "합동참모본부",
        "합참",
    )
    # One hop only: groups are not merged through a shared name.
    assert aliases.expand("JCS") == ("JCS", "Joint Chiefs of Staff")


def test_load_reads_a_given_file(tmp_path: Path) -> None:
    path = tmp_path / "aliases.toml"
    path.write_text('[[group]]\nnames = ["A1", "Alpha One"]\nnote = "test"\n', encoding="utf-8")
    assert AliasTable.load(path).expand("a1") == ("a1", "Alpha One")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[[group]\nnames = [", "Expected"),  # TOML syntax
        ('[group]\nnames = ["A", "B"]', "array of tables"),
        ('[[group]]\nname = ["A", "B"]', "unknown keys"),
        ("[[group]]\nnote = 'no names'", "`names` must be a list"),
        ('[[group]]\nnames = "A, B"', "`names` must be a list"),
        ('[[group]]\nnames = ["A"]', "at least two names"),
        ('[[group]]\nnames = ["A", 1]', "not a name"),
        ('[[group]]\nnames = ["A", "!!"]', "not a name"),
        ('[[group]]\nnames = ["A", "B"]\nnote = 3', "`note` must be a string"),
        ('[[groups]]\nnames = ["A", "B"]', "unknown top-level keys"),
    ],
)
def test_load_malformed_file_names_the_file_and_the_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as caught:
        AliasTable.load(path)
    assert str(path) in str(caught.value)


def test_from_groups_refuses_a_bare_string_group() -> None:
    with pytest.raises(ValueError, match="got a string"):
        AliasTable.from_groups(["KIDA"])
