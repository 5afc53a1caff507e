"""Alert and list formatting: escaped, safe links, within Telegram's length limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.article import Article
from bot.core.formatting import MAX_MESSAGE_LENGTH, format_alert, format_article_line

PUBLISHED = datetime(2025, 4, 16, 9, 30, tzinfo=UTC)
REPORT = Article(
    title="Seoul should bolster diplomatic ties with Moscow: think tank",
    link="https://www.koreaherald.com/article/10466310",
    summary="A report by the Korea Institute for Defense Analyses noted that Moscow has been "
    "advancing its ties with Pyongyang.",
    published=PUBLISHED,
)
# The markup format_alert itself writes; anything else that looks like a tag is feed text.
OWN_MARKUP = re.compile(r'<a href="[^"<>]*">|</a>|<b>|</b>')


def test_alert_layout() -> None:
    text = format_alert(REPORT, source_name="Korea Herald", tags=["KIDA", "Hanwha Aerospace"])
    assert text == (
        '<a href="https://www.koreaherald.com/article/10466310">'
        "Seoul should bolster diplomatic ties with Moscow: think tank</a>\n"
        "Korea Herald · 2025-04-16 09:30 UTC\n"
        "#KIDA #HanwhaAerospace\n"
        "\n"
        "A report by the Korea Institute for Defense Analyses noted that Moscow has been "
        "advancing its ties with Pyongyang."
    )


def test_other_outlets_follow_the_source_the_first_few_by_name() -> None:
    def also_line(outlets: list[str]) -> str:
        text = format_alert(REPORT, source_name="Korea Herald", tags=["KIDA"], also=outlets)
        return text.split("\n")[2]

    assert also_line(["Yonhap"]) == "Also reported by Yonhap"
    assert also_line(["Yonhap", "AT&T News"]) == "Also reported by Yonhap and AT&amp;T News"
    many = [f"Outlet {n}" for n in range(8)]
    assert also_line(many) == (
        "Also reported by Outlet 0, Outlet 1, Outlet 2, Outlet 3, Outlet 4 and 3 more"
    )
    assert also_line(["", " "]) == "#KIDA"  # no names, no line


def test_time_is_shown_in_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    article = Article(title="t", published=datetime(2025, 4, 16, 18, 30, tzinfo=seoul))
    assert "2025-04-16 09:30 UTC" in format_alert(article, source_name="s", tags=[])


def test_missing_parts_are_left_out() -> None:
    article = Article(title="Just a title")
    assert format_alert(article, source_name="", tags=[]) == "<b>Just a title</b>"
    assert format_alert(article, source_name="Herald", tags=[]) == "<b>Just a title</b>\nHerald"


def test_snippet_falls_back_to_content_and_skips_a_repeated_title() -> None:
    with_content = Article(title="t", content="Body text")
    assert format_alert(with_content, source_name="s", tags=[]).endswith("\n\nBody text")
    repeated = Article(title="Same words", summary=" Same\nwords ")
    assert format_alert(repeated, source_name="s", tags=[]) == "<b>Same words</b>\ns"


def test_feed_text_is_escaped() -> None:
    article = Article(
        title="<script>alert(1)</script> & more",
        link='https://example.com/a?x=1&y="2"',
        summary="<b>bold</b> & <i>",
    )
    text = format_alert(article, source_name="<Herald>", tags=[])
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text
    assert '<a href="https://example.com/a?x=1&amp;y=&quot;2&quot;">' in text
    assert "&lt;Herald&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;" in text


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "/relative", "ftp://x"],
)
def test_only_http_links_become_links(link: str) -> None:
    text = format_alert(Article(title="t", link=link), source_name="s", tags=[])
    assert text.startswith("<b>t</b>")
    assert "href" not in text


def test_snippet_is_cut_on_a_word_boundary() -> None:
    article = Article(title="t", summary="alpha beta gamma delta epsilon")
    text = format_alert(article, source_name="s", tags=[], snippet_length=14)
    assert text.endswith("\n\nalpha beta…")


def test_huge_title_shortens_snippet_first_then_title() -> None:
    article = Article(title="word " * 2000, link="https://example.com/a", summary="summary " * 100)
    text = format_alert(article, source_name="Herald", tags=["KIDA"], snippet_length=300)
    assert len(text) <= MAX_MESSAGE_LENGTH
    assert "summary" not in text  # the snippet went first
    assert text.startswith('<a href="https://example.com/a">word word')
    assert "word…</a>\nHerald\n#KIDA" in text


def test_every_part_at_once_fits() -> None:
    article = Article(
        title="&" * 10_000,
        link="https://example.com/" + "&" * 10_000,
        summary="<" * 10_000,
        published=PUBLISHED,
    )
    tags = [f"tag{n} " + "x" * 90 for n in range(100)]
    also = ["&" * 1000] * 3 + ["<b>" * 100, "x"]
    text = format_alert(
        article, source_name="&" * 1000, tags=tags, snippet_length=10_000, also=also
    )
    assert len(text) <= MAX_MESSAGE_LENGTH
    assert "2025-04-16 09:30 UTC" in text
    assert "#Tag0" in text


def test_tags_that_do_not_fit_are_left_out_with_an_ellipsis() -> None:
    text = format_alert(Article(title="t"), source_name="s", tags=["x" * 5000, "KIDA", "!!"])
    assert text == "<b>t</b>\ns\n#KIDA …"


def test_article_line() -> None:
    assert format_article_line(REPORT) == (
        '<a href="https://www.koreaherald.com/article/10466310">'
        "Seoul should bolster diplomatic ties with Moscow: think tank</a> · 2025-04-16 09:30 UTC"
    )
    assert format_article_line(Article(title="<x>")) == "<b>&lt;x&gt;</b>"
    assert format_article_line(Article(title="")) == "<b>(untitled)</b>"


def test_article_line_is_short_even_for_a_huge_title() -> None:
    line = format_article_line(Article(title="word " * 2000, published=PUBLISHED))
    assert len(line) < 300
    assert "\n" not in line


@given(
    st.builds(
        Article,
        title=st.text(),
        link=st.one_of(st.text(), st.text().map(lambda tail: "https://example.com/" + tail)),
        summary=st.text(),
        content=st.text(),
        published=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    ),
    st.text(),
    st.lists(st.text(max_size=100), max_size=60),
    st.integers(min_value=0, max_value=5000),
)
def test_alert_fits_and_never_lets_feed_markup_through(
    article: Article, source_name: str, tags: list[str], snippet_length: int
) -> None:
    text = format_alert(article, source_name=source_name, tags=tags, snippet_length=snippet_length)
    assert len(text) <= MAX_MESSAGE_LENGTH
    assert "<" not in OWN_MARKUP.sub("", text)
    assert ">" not in OWN_MARKUP.sub("", text)
    line = format_article_line(article)
    assert "<" not in OWN_MARKUP.sub("", line)


@given(st.text(min_size=1))
def test_script_title_appears_only_escaped(tail: str) -> None:
    article = Article(title="<script>" + tail, summary="<script>" + tail)
    text = format_alert(article, source_name="s", tags=[])
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


# --- why it matched ---

SPELLED_OUT = Article(
    title="Think tank report",
    summary="A report by the Korea Institute for Defense Analyses noted closer ties.",
)


def test_matched_words_are_bold_in_the_snippet() -> None:
    text = format_alert(SPELLED_OUT, source_name="s", tags=["KIDA"], matched={"KIDA": "kida"} | {})
    assert "<b>" not in text.split("\n\n")[1]  # "kida" itself is not in the snippet
    matched = {"KIDA": "korea institute for defense analyses"}
    text = format_alert(SPELLED_OUT, source_name="s", tags=["KIDA"], matched=matched)
    assert text.endswith(
        "\n\nA report by the <b>Korea Institute for Defense Analyses</b> noted closer ties."
    )


def test_an_alias_match_names_the_alias_as_the_article_spells_it() -> None:
    matched = {"KIDA": "korea institute for defense analyses"}
    text = format_alert(SPELLED_OUT, source_name="s", tags=["KIDA"], matched=matched)
    assert "\n#KIDA (matched “Korea Institute for Defense Analyses”)\n" in text


@pytest.mark.parametrize(
    ("tag", "term"),
    [
        ("KIDA", "kida"),
        ("kida's", "kida s"),
        ('"LIG Nex1" OR LIG넥스원', "lig넥스원"),  # one of the tag's own alternatives
    ],
)
def test_a_match_of_what_was_typed_names_nothing(tag: str, term: str) -> None:
    article = Article(title="t", summary="KIDA's LIG넥스원")
    text = format_alert(article, source_name="s", tags=[tag], matched={tag: term})
    assert "matched" not in text


@pytest.mark.parametrize(
    ("summary", "term", "expected"),
    [
        ("The K2-Tank order", "k2 tank", "The <b>K2-Tank</b> order"),
        ("180 more K2 tanks", "k2 tank", "180 more <b>K2 tanks</b>"),
        ("Seen at #KoreaInstituteforDefenseAnalyses", "korea institute for defense analyses",
         "Seen at #<b>KoreaInstituteforDefenseAnalyses</b>"),
        ("Donatos and NATO, nato", "nato", "Donatos and <b>NATO</b>, <b>nato</b>"),
        ("한국국방연구원은 밝혔다", "한국국방연구원", "<b>한국국방연구원</b>은 밝혔다"),
        ("NATO는 K2전차를", "nato", "<b>NATO</b>는 K2전차를"),
        ("국방연구원 한국국방연구원", "국방연구원", "<b>국방연구원</b> 한국국방연구원"),
        ("<i>KIDA</i> & co", "kida", "&lt;i&gt;<b>KIDA</b>&lt;/i&gt; &amp; co"),
    ],
)  # fmt: skip
def test_bold_finds_the_term_as_written(summary: str, term: str, expected: str) -> None:
    article = Article(title="t", summary=summary)
    text = format_alert(article, source_name="s", tags=["x"], matched={"x": term})
    assert text.endswith("\n\n" + expected)


def test_the_snippet_is_centred_on_a_match_far_into_the_text() -> None:
    summary = "filler " * 200 + "the KIDA report " + "tail " * 200
    article = Article(title="t", summary=summary)
    text = format_alert(article, source_name="s", tags=["KIDA"], matched={"KIDA": "kida"})
    snippet = text.split("\n\n", 1)[1]
    assert snippet.startswith("…filler")
    assert snippet.endswith("tail…")
    assert "<b>KIDA</b>" in snippet
    assert 250 <= len(snippet.replace("<b>", "").replace("</b>", "")) <= 300


def test_a_match_near_the_end_shows_the_end() -> None:
    article = Article(title="t", summary="filler " * 200 + "said KIDA.")
    text = format_alert(article, source_name="s", tags=["KIDA"], matched={"KIDA": "kida"})
    assert text.endswith("said <b>KIDA</b>.")
    assert "\n\n…filler" in text


def test_the_snippet_comes_from_the_content_when_only_it_matches() -> None:
    article = Article(title="t", summary="Nothing here.", content="Officials of DAPA said.")
    text = format_alert(article, source_name="s", tags=["DAPA"], matched={"DAPA": "dapa"})
    assert text.endswith("\n\nOfficials of <b>DAPA</b> said.")
    assert format_alert(article, source_name="s", tags=["DAPA"]).endswith("\n\nNothing here.")


def test_entities_escaped_twice_show_once() -> None:
    article = Article(title="AT&amp;amp;T &amp; KIDA", summary="AT&amp;T deal")
    text = format_alert(article, source_name="s", tags=["AT&T"], matched={"AT&T": "at t"})
    assert text.startswith("<b>AT&amp;amp;T &amp; KIDA</b>")  # shows "AT&amp;T & KIDA"
    assert text.endswith("\n\n<b>AT&amp;T</b> deal")


def test_a_note_is_escaped_and_shortened() -> None:
    article = Article(title="t", summary="<Some & very long alias name> " * 3)
    term = "some very long alias name " * 3
    text = format_alert(article, source_name="s", tags=["X"], matched={"X": term})
    note = text.split("\n")[2]
    assert note.startswith("#X (matched “Some &amp; very long alias name&gt; &lt;Some")
    assert note.endswith("…”)")


@given(
    st.builds(
        Article,
        title=st.text(),
        summary=st.text(),
        content=st.text(),
        categories=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    ),
    st.lists(st.text(max_size=30), max_size=5),
    st.data(),
    st.integers(min_value=0, max_value=5000),
)
def test_alert_with_matches_fits_and_lets_no_feed_markup_through(
    article: Article, tags: list[str], data: st.DataObject, snippet_length: int
) -> None:
    words = (article.summary + " " + article.content).split() or ["x"]
    matched = {
        tag: " ".join(data.draw(st.lists(st.sampled_from(words), max_size=3))) for tag in tags
    }
    text = format_alert(
        article, source_name="s", tags=tags, matched=matched, snippet_length=snippet_length
    )
    assert len(text) <= MAX_MESSAGE_LENGTH
    assert "<" not in OWN_MARKUP.sub("", text)
    assert ">" not in OWN_MARKUP.sub("", text)
    assert text.count("<b>") == text.count("</b>")
