"""TagIndex: whole-word, phrase and alias matching of many tags in one pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.matching import TagIndex
from bot.core.tags import MAX_TAG_LENGTH, make_tag
from bot.core.text import normalize

ALIASES = AliasTable.from_groups(
    [
        ["KIDA", "Korea Institute for Defense Analyses", "한국국방연구원"],
        ["NATO", "North Atlantic Treaty Organization"],
        ["JCS", "Joint Chiefs of Staff"],
    ]
)
NO_ALIASES = AliasTable.from_groups([])

# The two Korea Herald seed articles, quoted in part. The first names KIDA only spelled out.
NATO_SPENDING = Article(
    title="Will NATO's new spending target be boon to S. Korea's defense exports?",
    link="https://www.koreaherald.com/article/10518040",
    summary=(
        "'Unlike many countries that scaled back military investment after the Cold War, "
        "South Korea has continuously built up its capabilities,' said an analyst at the "
        "Korea Institute for Defense Analyses, who declined to be named."
    ),
    categories=("Business", "Korea Herald"),
)
THINK_TANK_REPORT = Article(
    title="Seoul should bolster diplomatic ties with Moscow to deter N. Korean threats: think tank",
    summary=(
        "A report by the Korea Institute for Defense Analyses noted that following Russia's "
        "prolonged war against Ukraine since February 2022, Moscow has been advancing its "
        "ties with Pyongyang."
    ),
    content=(
        "The report, written by senior KIDA researcher Park Yong-han, stressed that this "
        'would allow the so-called "hermit regime" to request additional technological aid.'
    ),
    categories=("Politics",),
    published=datetime(2025, 4, 16, tzinfo=UTC),
)


def index(*names: str, aliases: AliasTable = ALIASES) -> TagIndex:
    return TagIndex(make_tag(name, aliases) for name in names)


@pytest.mark.parametrize("article", [NATO_SPENDING, THINK_TANK_REPORT])
def test_follow_kida_matches_both_seed_articles(article: Article) -> None:
    assert index("KIDA").match(article) == {"kida": "korea institute for defense analyses"}


def test_seed_article_matches_every_tag_it_names() -> None:
    assert index("KIDA", "NATO", "Hanwha Aerospace").match(NATO_SPENDING) == {
        "kida": "korea institute for defense analyses",
        "nato": "nato",
    }


@pytest.mark.parametrize(
    "title",
    [
        "kida researchers warn",  # lower case
        "KIDA's latest report",  # possessive
        "KIDA\u2019s latest report",  # typographic apostrophe
        "(KIDA) report",
        "Report: KIDA.",
        "Read more #KIDA",
        "Report\nKIDA\n",
    ],
)
def test_kida_variants_match(title: str) -> None:
    assert index("KIDA").match(Article(title=title)) == {"kida": "kida"}


@pytest.mark.parametrize(
    ("tag", "title"),
    [
        ("NATO", "Donatos pizza opens a new store"),
        ("NATO", "NATOs"),
        ("KIDA", "Kidagakash"),
        ("KIDA", "Korea's institute for defense analyses"),  # words not adjacent
        ("KIDA", "Institute for Korea Defense Analyses"),  # words out of order
        ("K2-tank", "180 additional K2 tanks"),  # whole words: "tanks" is another word
    ],
)
def test_decoys_do_not_match(tag: str, title: str) -> None:
    assert index(tag, aliases=NO_ALIASES).match(Article(title=title)) == {}


def test_a_phrase_does_not_span_two_fields() -> None:
    article = Article(title="News from Korea", summary="Institute for Defense Analyses says")
    tags = index("Korea Institute for Defense Analyses", aliases=NO_ALIASES)
    assert tags.match(article) == {}


@pytest.mark.parametrize("written", ["K2-tank", "K2 tank", "k2\u2013tank", "K2_tank"])
@pytest.mark.parametrize("tag", ["K2-tank", "K2 tank"])
def test_hyphen_and_space_spellings_match_each_other(tag: str, written: str) -> None:
    assert index(tag).match(Article(title=f"The {written} order")) == {"k2 tank": "k2 tank"}


def test_camel_case_category_matches_a_multi_word_tag() -> None:
    article = Article(title="Think tank report", categories=("KoreaInstituteforDefenseAnalyses",))
    assert index("Korea Institute for Defense Analyses", aliases=NO_ALIASES).match(article) == {
        "korea institute for defense analyses": "korea institute for defense analyses"
    }
    assert index("KIDA").match(article) == {"kida": "korea institute for defense analyses"}


def test_camel_case_hashtag_in_text_matches() -> None:
    article = Article(title="x", content="Latest news with #KoreaInstituteforDefenseAnalyses")
    assert index("KIDA").match(article) == {"kida": "korea institute for defense analyses"}


def test_hyphenated_category_matches() -> None:
    assert index("K2 tank").match(Article(title="x", categories=("K2-Tank",))) == {
        "k2 tank": "k2 tank"
    }


def test_a_term_shared_by_two_tags_matches_both() -> None:
    article = Article(title="Joint Chiefs of Staff convene")
    assert index("JCS", "Joint Chiefs of Staff").match(article) == {
        "jcs": "joint chiefs of staff",
        "joint chiefs of staff": "joint chiefs of staff",
    }


def test_the_first_term_found_is_reported() -> None:
    article = Article(title="KIDA says", summary="Korea Institute for Defense Analyses")
    assert index("KIDA").match(article) == {"kida": "kida"}


def test_korean_name_matches_as_its_own_token() -> None:
    tags = index("KIDA")
    assert tags.match(Article(title="한국국방연구원 보고서")) == {"kida": "한국국방연구원"}
    assert tags.match(Article(title="국방연구원(한국국방연구원) 발표")) == {
        "kida": "한국국방연구원"
    }


@pytest.mark.xfail(strict=True, reason="Korean particles (은/는/이/가...) are a later issue")
def test_korean_name_with_a_particle_matches() -> None:
    assert index("KIDA").match(Article(title="한국국방연구원은 밝혔다")) == {
        "kida": "한국국방연구원"
    }


def test_empty_index_matches_nothing() -> None:
    empty = TagIndex([])
    assert len(empty) == 0
    assert empty.match(NATO_SPENDING) == {}


def test_len_counts_distinct_tag_keys() -> None:
    # Two chats following "KIDA" and "kida" follow one tag.
    assert len(index("KIDA", "kida", "NATO", "Korea Institute for Defense Analyses")) == 3


def test_match_survives_lone_surrogates_and_control_characters() -> None:
    article = Article(title="\ud800 KIDA \x00", summary="\udfff", categories=("\ud83d",))
    assert index("KIDA").match(article) == {"kida": "kida"}


# --- properties ---

text_fields = st.builds(
    Article,
    title=st.text(),
    link=st.text(),
    guid=st.text(),
    summary=st.text(),
    content=st.text(),
    categories=st.lists(st.text(), max_size=4).map(tuple),
)


@given(text_fields)
def test_match_never_raises(article: Article) -> None:
    result = index("KIDA", "NATO", "K2-tank", "한국국방연구원", "Hanwha Aerospace").match(article)
    assert set(result) <= {"kida", "nato", "k2 tank", "한국국방연구원", "hanwha aerospace"}


words = st.text(alphabet=st.characters(categories=["L", "Nd"]), min_size=1, max_size=12)
tag_names = st.lists(words, min_size=1, max_size=4).map(" ".join)


@given(st.lists(tag_names, min_size=1, max_size=8), st.data())
def test_a_tag_between_spaces_always_matches(names: list[str], data: st.DataObject) -> None:
    assume(all(normalize(name) and len(normalize(name)) <= MAX_TAG_LENGTH for name in names))
    tags = index(*names, aliases=NO_ALIASES)
    name = data.draw(st.sampled_from(names))
    field = data.draw(st.sampled_from(["title", "summary", "content"]))
    found = tags.match(replace(Article(title=""), **{field: f" {name} "}))
    assert normalize(name) in found
