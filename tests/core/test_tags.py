"""Tags as users type them, the alias table behind them, and their hashtags."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from bot.core.aliases import AliasTable
from bot.core.tags import (
    MAX_TAG_LENGTH,
    Tag,
    TagError,
    describe,
    hashtag,
    make_tag,
    split_tags,
    typed_terms,
)
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
        ('"Samsung, Inc.", KIDA', ['"Samsung, Inc."', "KIDA"]),  # a comma inside quotes
        ('"KIDA, NATO', ['"KIDA', 'NATO']),  # an unclosed quote does not hold commas
        ("K2 tank -toy, k2 TANK -TOY, K2 tank toy", ["K2 tank -toy", "K2 tank toy"]),
        ("A OR B, B OR A, \"A\" OR \"B\"", ["A OR B"]),  # equal queries are one tag
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


# --- queries ---


@pytest.mark.parametrize(
    ("name", "key", "terms", "exclude"),
    [
        ("K2 tank -toy", "k2 tank -toy", ("k2 tank",), ("toy",)),
        ('"K2 tank" -"toy tank"', 'k2 tank -"toy tank"', ("k2 tank",), ("toy tank",)),
        ('"LIG Nex1" OR LIG넥스원', "lig nex1 OR lig넥스원", ("lig nex1", "lig넥스원"), ()),
        ("“K2 tank” OR K9 \u2212toy", "k2 tank OR k9 -toy", ("k2 tank", "k9"), ("toy",)),
        ('"K2 tank', "k2 tank", ("k2 tank",), ()),  # an unclosed quote runs to the end
        ('K2 "tank"', "k2 tank", ("k2 tank",), ()),  # adjacent parts make one phrase
        ('"K2 -toy" tank', "k2 toy tank", ("k2 toy tank",), ()),  # quotes keep a minus
        ('"A OR B"', "a or b", ("a or b",), ()),  # and an OR
        ("K2-tank", "k2 tank", ("k2 tank",), ()),  # a hyphen inside a word is not a minus
        ("Hanwha - Aerospace", "hanwha aerospace", ("hanwha aerospace",), ()),  # nor alone
        ("salt or pepper", "salt or pepper", ("salt or pepper",), ()),  # only OR in capitals
        ("KIDA OR KIDA", "kida", ("kida",), ()),  # one alternative: a plain key
    ],
)
def test_make_tag_reads_a_query(
    name: str, key: str, terms: tuple[str, ...], exclude: tuple[str, ...]
) -> None:
    tag = make_tag(name, NO_ALIASES)
    assert (tag.key, tag.terms, tag.exclude) == (key, terms, exclude)


@pytest.mark.parametrize(
    "name",
    ["KIDA", "Hanwha Aerospace", "K2-tank", "한국국방연구원", "kida's", "U.S. Forces Korea"],
)
def test_a_plain_tag_keeps_its_key(name: str) -> None:
    assert make_tag(name, NO_ALIASES).key == normalize(name)


def test_a_query_key_is_canonical_and_never_a_plain_key() -> None:
    keys = {
        make_tag(name, NO_ALIASES).key
        for name in ("K2 tank -TOY -model", "k2  TANK -model -toy", '"k2 tank" -"toy" -model')
    }
    assert keys == {"k2 tank -model -toy"}
    assert make_tag("B OR A", NO_ALIASES).key == make_tag("A OR B", NO_ALIASES).key
    # The key of a query holds what normalize never writes: a capital OR or a leading "-".
    assert make_tag("A OR B", NO_ALIASES).key != make_tag("A or B", NO_ALIASES).key
    assert make_tag("A -B", NO_ALIASES).key != make_tag("A B", NO_ALIASES).key


def test_a_query_key_reads_back_as_the_same_query() -> None:
    tag = make_tag('"LIG Nex1" OR K9 -toy -"toy tank"', NO_ALIASES)
    again = make_tag(tag.key, NO_ALIASES)
    assert again.key == tag.key
    assert (set(again.terms), set(again.exclude)) == (set(tag.terms), set(tag.exclude))


def test_aliases_expand_every_alternative_and_exclusion() -> None:
    aliases = AliasTable.from_groups([KIDA_NAMES, ["NATO", "North Atlantic Treaty Organization"]])
    tag = make_tag("KIDA OR 합참 -NATO", aliases)
    assert tag.terms == ("kida", "korea institute for defense analyses", "한국국방연구원", "합참")
    assert tag.exclude == ("nato", "north atlantic treaty organization")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("-toy", "only says what to leave out"),
        ('-"toy tank" -model', "only says what to leave out"),
        ("OR", "on each side of OR"),
        ("KIDA OR", "on each side of OR"),
        ("OR KIDA", "on each side of OR"),
        ('KIDA OR "!!"', "on each side of OR"),
        ('"" -', "no letters or digits"),
        ("KIDA -kida", "both looks for and leaves out “kida”"),
    ],
)
def test_nonsense_queries_are_refused_readably(name: str, problem: str) -> None:
    with pytest.raises(TagError, match=problem) as caught:
        make_tag(name, NO_ALIASES)
    assert str(caught.value).endswith(".")


def test_excluding_an_alias_of_the_tag_is_refused() -> None:
    aliases = AliasTable.from_groups([KIDA_NAMES])
    with pytest.raises(TagError, match="both looks for and leaves out"):
        make_tag('KIDA -"Korea Institute for Defense Analyses"', aliases)


def test_typed_terms_leave_out_aliases_and_exclusions() -> None:
    assert typed_terms('"LIG Nex1" OR K9 -toy') == ("lig nex1", "k9")
    assert typed_terms("KIDA") == ("kida",)
    assert typed_terms("-toy") == ()


# --- describe ---


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("KIDA", "KIDA = Korea Institute for Defense Analyses, 한국국방연구원"),
        ("K2 tank -toy", '"K2 tank" (not: toy)'),
        ('K2 tank -toy -"toy tank"', '"K2 tank" (not: toy, "toy tank")'),
        ('"LIG Nex1" OR K9', '"LIG Nex1" OR K9'),
        (
            "KIDA OR K9",
            "(KIDA = Korea Institute for Defense Analyses, 한국국방연구원) OR K9",
        ),
        ("KIDA OR 한국국방연구원", "KIDA = Korea Institute for Defense Analyses, 한국국방연구원"),
        ("Hanwha Aerospace", '"Hanwha Aerospace"'),
        ("K9 -KIDA", "K9 (not: KIDA = Korea Institute for Defense Analyses, 한국국방연구원)"),
    ],
)
def test_describe_says_how_a_tag_was_understood(name: str, expected: str) -> None:
    aliases = AliasTable.from_groups([KIDA_NAMES])
    assert describe(make_tag(name, aliases), aliases) == expected


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
        ("K2 tank -toy", "#K2Tank"),  # a query shows its first phrase
        ('"LIG Nex1" OR LIG넥스원', "#LIGNex1"),
        ("OR KIDA", "#KIDA"),
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


def test_from_groups_refuses_a_bare_string_group() -> None:
    with pytest.raises(ValueError, match="got a string"):
        AliasTable.from_groups(["KIDA"])
