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
from bot.core.text import endings_after, normalize

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
        ("NATO", "NATOist"),
        ("KIDA", "Kidagakash"),
        ("KIDA", "Korea's institute for defense analyses"),  # words not adjacent
        ("KIDA", "Institute for Korea Defense Analyses"),  # words out of order
        ("K2-tank", "K2 tankers"),  # whole words: "tankers" is another word
        ("K2 tank", "K2 rifle maker wins tank parts order"),
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


@pytest.mark.parametrize(
    "title",
    [
        "한국국방연구원은 밝혔다",
        "한국국방연구원이 주최한 세미나",
        "한국국방연구원의 분석",
        "한국국방연구원에서 열린 토론회",
        "한국국방연구원에서는 토론회가 열린다",
        "한국국방연구원과 협력",
        "한국국방연구원과의 협약",
        "한국국방연구원으로 자리를 옮겼다",
        "한국국방연구원장 취임",  # the head of the institute
    ],
)
def test_korean_name_with_a_particle_matches(title: str) -> None:
    assert index("KIDA").match(Article(title=title)) == {"kida": "한국국방연구원"}


@pytest.mark.parametrize(
    ("tag", "title"),
    [
        ("국방연구원", "한국국방연구원은 밝혔다"),  # a name inside another: no boundary before
        ("한국국방", "한국국방연구원은 밝혔다"),  # not a particle after
        ("한국국방연구원", "한국국방연구원노조 출범"),
        ("한국국방연구원", "한국국방연구원는 밝혔다"),  # 는 follows a vowel, 원 ends in ㄴ
        ("이란", "협상이 타결될 것이란 기대"),  # 이란 as a particle of another word
        ("이란", "이란성 쌍둥이"),
        ("국", "국가 안보"),  # a one-syllable name takes no particle: 국 + 가 is 국가
    ],
)
def test_korean_decoys_do_not_match(tag: str, title: str) -> None:
    assert index(tag, aliases=NO_ALIASES).match(Article(title=title)) == {}


@pytest.mark.parametrize(
    ("tag", "title"),
    [
        ("삼성전자", "삼성전자가 발표했다"),  # vowel-final: 가, 는, 를, 와, 로
        ("삼성전자", "삼성전자는 발표했다"),
        ("삼성전자", "삼성전자로 옮겼다"),
        ("서울", "서울로 향했다"),  # ㄹ-final takes 로, not 으로
        ("국방부", "국방부 장관은"),
        ("합참", "합참의장 후보자"),
        ("NATO", "NATO는 밝혔다"),  # a particle straight after Latin letters
        ("K2", "K2전차 수출"),  # and after a digit
        ("K2 전차", "K2전차 수출"),
        ("LIG넥스원", "LIG 넥스원은 밝혔다"),
        ("이란", "이란은 거부했다"),
    ],
)
def test_korean_forms_match(tag: str, title: str) -> None:
    tags = index(tag, aliases=NO_ALIASES)
    assert tags.match(Article(title=title)) == {normalize(tag): normalize(tag)}


@pytest.mark.parametrize(
    ("tag", "title", "term"),
    [
        ("K2 tank", "180 additional K2 tanks", "k2 tank"),
        ("drone", "Drones over the border", "drone"),
        ("policy", "New policies announced", "policy"),
        ("tax", "Taxes rise", "tax"),
        ("ICBM", "Two ICBMs launched", "icbm"),
    ],
)
def test_english_plurals_match(tag: str, title: str, term: str) -> None:
    assert index(tag, aliases=NO_ALIASES).match(Article(title=title)) == {term: term}


def test_exclusion_vetoes_a_tag_wherever_the_term_occurs() -> None:
    tags = index("K2 tank -toy", "K2 tank")
    keys = {"k2 tank -toy", "k2 tank"}
    assert set(tags.match(Article(title="Poland buys K2 tanks"))) == keys
    for article in (
        Article(title="K2 tank toy on sale"),
        Article(title="K2 tank model", summary="A toy for collectors"),
        Article(title="K2 tank model", content="…the toy…"),
        Article(title="K2 tank model", categories=("Toys",)),  # plural of the excluded word
        Article(title="K2 tank model #toy"),
    ):
        assert tags.match(article) == {"k2 tank": "k2 tank"}


def test_exclusion_covers_the_excluded_names_aliases() -> None:
    tags = index("JCS -NATO")
    assert tags.match(Article(title="JCS meets")) == {"jcs -nato": "jcs"}
    article = Article(title="JCS meets North Atlantic Treaty Organization envoys")
    assert tags.match(article) == {}


def test_a_term_can_be_wanted_by_one_tag_and_excluded_by_another() -> None:
    tags = index("toy", "K2 tank -toy")
    assert tags.match(Article(title="K2 tank toy")) == {"toy": "toy"}


def test_a_common_exclusion_vetoes_many_tags_at_once() -> None:
    tags = TagIndex(make_tag(f"Brand{n} -sale", NO_ALIASES) for n in range(500))
    article = Article(title=" ".join(f"Brand{n}" for n in range(500)))
    assert len(tags.match(article)) == 500
    assert tags.match(replace(article, summary="Sale!")) == {}


def test_or_alternatives_each_match() -> None:
    tags = index('"LIG Nex1" OR LIG넥스원', aliases=NO_ALIASES)
    key = "lig nex1 OR lig넥스원"
    assert tags.match(Article(title="LIG Nex1 wins order")) == {key: "lig nex1"}
    assert tags.match(Article(title="LIG넥스원이 수주했다")) == {key: "lig넥스원"}
    assert tags.match(Article(title="LIG wins order")) == {}


def test_leftover_html_entities_do_not_break_words() -> None:
    tags = index("AT&T", "KIDA", aliases=NO_ALIASES)
    article = Article(title="KIDA&amp;NATO seminar", summary="AT&amp;T&#39;s network")
    assert tags.match(article) == {"kida": "kida", "at t": "at t"}


@pytest.mark.parametrize(
    ("tag", "hashtag"),
    [
        ("NATO", "#NATOSummit"),  # a CamelCase hashtag holds its words
        ("Hanwha Aerospace", "#HanwhaAerospace"),
        ("Korea Institute for Defense Analyses", "#KoreaInstituteDefenseAnalyses"),  # no "for"
        ("K2 tank", "#K2Tank"),
    ],
)
def test_camel_case_hashtags_hold_their_words(tag: str, hashtag: str) -> None:
    article = Article(title=f"News {hashtag} today")
    assert normalize(tag) in index(tag, aliases=NO_ALIASES).match(article)


def test_a_pattern_two_terms_share_finds_both() -> None:
    # "연구원" + 의 and the term "연구원의" are the same automaton word.
    tags = index("연구원", "연구원의", aliases=NO_ALIASES)
    assert tags.match(Article(title="연구원의 발표")) == {
        "연구원": "연구원",
        "연구원의": "연구원의",
    }


def test_terms_two_tags_share_report_the_first_found() -> None:
    tags = index("KIDA", "Korea Institute for Defense Analyses")
    article = Article(title="KIDA, the Korea Institute for Defense Analyses")
    assert tags.match(article) == {"kida": "kida", "korea institute for defense analyses": "kida"}
    article = Article(title="The Korea Institute for Defense Analyses (KIDA)")
    found = "korea institute for defense analyses"
    assert tags.match(article) == {"kida": found, "korea institute for defense analyses": found}


def test_a_term_of_its_own_wins_over_a_shared_one() -> None:
    # "jcs" is both tags' term, "pentagon" only the first's: it is reported though later.
    tags = index("JCS OR Pentagon", "JCS", aliases=NO_ALIASES)
    assert tags.match(Article(title="JCS briefs the Pentagon")) == {
        "jcs OR pentagon": "pentagon",
        "jcs": "jcs",
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

# Text with the pieces matching treats specially mixed in, so that they meet at random.
fragments = st.sampled_from(
    [
        "KIDA", "kida's", "K2-tank", "K2 tanks", "toy", "#KoreaInstituteforDefenseAnalyses",
        "#NATOSummit", "한국국방연구원은", "NATO는", "이란", "&amp;", "&#39;", "\x1e", "\x00",
        "\ud800", " OR ", " -", '"', "_", "\n", " ", "\ufb01", "\uff2b",
    ]
)  # fmt: skip
mixed_text = st.lists(st.one_of(fragments, st.text(max_size=6)), max_size=12).map("".join)
any_text = st.one_of(st.text(), mixed_text)
text_fields = st.builds(
    Article,
    title=any_text,
    link=st.text(),
    guid=st.text(),
    summary=any_text,
    content=any_text,
    categories=st.lists(any_text, max_size=4).map(tuple),
)
NAMES = ("KIDA", "NATO", "K2-tank -toy", "한국국방연구원", '"LIG Nex1" OR LIG넥스원', "이란")
MANY = index(*NAMES)


@given(text_fields)
def test_match_never_raises(article: Article) -> None:
    assert set(MANY.match(article)) <= {make_tag(name, ALIASES).key for name in NAMES}


words = st.text(alphabet=st.characters(categories=["L", "Nd"]), min_size=1, max_size=12)
tag_names = st.lists(words.filter(lambda word: word != "OR"), min_size=1, max_size=4).map(" ".join)


@given(st.lists(tag_names, min_size=1, max_size=8), st.data())
def test_a_tag_between_spaces_always_matches(names: list[str], data: st.DataObject) -> None:
    assume(all(normalize(name) and len(normalize(name)) <= MAX_TAG_LENGTH for name in names))
    tags = index(*names, aliases=NO_ALIASES)
    name = data.draw(st.sampled_from(names))
    field = data.draw(st.sampled_from(["title", "summary", "content"]))
    found = tags.match(replace(Article(title=""), **{field: f" {name} "}))
    assert normalize(name) in found


hangul_names = st.text(
    alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=2, max_size=6
)


@given(hangul_names, st.data())
def test_a_korean_name_matches_with_each_of_its_endings(name: str, data: st.DataObject) -> None:
    ending = data.draw(st.sampled_from(endings_after(name)))
    article = Article(title=f"발표 {name}{ending} 밝혔다")
    assert index(name, aliases=NO_ALIASES).match(article) == {name: name}
