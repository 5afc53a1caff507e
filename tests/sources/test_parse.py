"""parse_feed and parse_document on every format and quirk met in the wild.

Random and mutated bytes are in test_hostile.py; the two XML readers agreeing, in
test_parse_paths.py.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.article import Article
from bot.sources.parse import (
    ENTITIES_REFUSED,
    NOT_A_FEED,
    ParsedFeed,
    html_to_text,
    parse_document,
    parse_feed,
)
from tests.fakes.feed_server import rss

FIXTURES = Path(__file__).parent / "fixtures"
FEED_URL = "https://feeds.example.net/news/feed.xml"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_fixture(name: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed(fixture(name), FEED_URL, content_type=content_type)


def test_rss20() -> None:
    feed = parse_fixture("rss20.xml")

    assert feed.error is None
    assert feed.title == "Peninsula & Pacific Defence Wire"
    drills, budget, undated = feed.articles
    assert drills == Article(
        title="Seoul & Washington plan joint drills",
        link="https://news.example.com/2024/03/drills",
        guid="drills-2024-03",
        summary="The allies will hold Freedom Shield exercises.",
        content=(
            "The allies will hold Freedom Shield exercises next week, "
            "officials said on Monday \N{EM DASH} the largest in years."
        ),
        categories=("Defence", "North Korea"),
        published=datetime(2024, 3, 4, 0, 30, tzinfo=UTC),
    )
    assert budget.link == "https://feeds.example.net/2024/03/budget"  # relative to the feed URL
    assert budget.summary == "Plain text, spread over lines."
    assert budget.published == datetime(2024, 3, 5, tzinfo=UTC)
    assert (undated.guid, undated.published, undated.content) == ("", None, "")


def test_rss10_rdf() -> None:
    feed = parse_fixture("rss10.rdf")

    assert (feed.error, feed.title) == (None, "World news (RSS 1.0)")
    brussels, rhine = feed.articles
    assert brussels.guid == "https://world.example.de/a-1"  # from rdf:about
    assert brussels.categories == ("Politics",)  # from dc:subject
    assert brussels.published == datetime(2024, 3, 4, 11, 0, tzinfo=UTC)  # dc:date, +01:00
    assert rhine.summary == "Low water again."


def test_rss091_latin1_with_netscape_doctype() -> None:
    feed = parse_fixture("rss091.xml")

    assert (feed.error, feed.title) == (None, "Café Politique")
    election, budget = feed.articles
    assert election.title == "Élection : le résultat définitif"
    assert election.summary == "Analyse & réactions."
    assert budget.link == "http://politique.example.fr/articles/2"
    assert budget.published is None


def test_atom10_relative_links_and_xml_base() -> None:
    feed = parse_fixture("atom10.xml")

    assert (feed.error, feed.title) == (None, "Tech & Policy Notes")
    chips, older = feed.articles
    assert chips.link == "https://blog.example.org/news/2024/03/chips"  # feed xml:base
    assert older.link == "https://blog.example.org/archive/older-post"  # entry xml:base
    assert chips.title == "Chip export rules <tightened> again"  # type="text" stays literal
    assert chips.guid == "tag:blog.example.org,2024:chips"
    assert chips.summary == "New rules for chips."
    assert chips.content == "Full text with a chart."
    assert chips.categories == ("Technology", "Trade policy")
    assert chips.published == datetime(2024, 3, 4, 13, 0, tzinfo=UTC)  # published wins
    assert older.published == datetime(2024, 1, 1, tzinfo=UTC)  # falls back to updated
    assert older.content == "A second, longer content element that wins."


def test_euc_kr_declared_in_the_document() -> None:
    feed = parse_fixture("euckr.xml")

    assert (feed.error, feed.title) == (None, "한반도 뉴스")
    missile, rates = feed.articles
    assert missile.title == "북한, 동해상으로 탄도미사일 발사"
    assert missile.summary == "합동참모본부는 오늘 오전 북한이 탄도미사일을 발사했다고 밝혔다."
    assert missile.categories == ("국방", "북한")
    assert missile.published == datetime(2024, 3, 3, 22, 5, tzinfo=UTC)  # 07:05 KST
    assert rates.title == "한국은행, 기준금리 동결"


def test_euc_kr_declared_only_by_http() -> None:
    undeclared = fixture("euckr.xml").replace(b' encoding="EUC-KR"', b"")

    feed = parse_feed(undeclared, FEED_URL, content_type="application/rss+xml; charset=EUC-KR")

    assert feed.title == "한반도 뉴스"
    assert feed.articles[0].title == "북한, 동해상으로 탄도미사일 발사"


def test_wrong_http_charset_falls_back_to_the_declared_one() -> None:
    feed = parse_fixture("euckr.xml", content_type="text/xml; charset=utf-8")

    assert feed.articles[0].title == "북한, 동해상으로 탄도미사일 발사"


def test_truncated_feed_keeps_what_was_complete() -> None:
    feed = parse_fixture("truncated.xml")

    assert feed.error is None
    assert [article.title for article in feed.articles] == [
        "First story survives",
        "Second story survives",
    ]


def test_broken_feed_without_items_is_an_error() -> None:
    feed = parse_feed(b'<rss version="2.0"><channel><title>Cut</title></chan', FEED_URL)

    assert feed.articles == []
    assert feed.error is not None and feed.error.startswith("malformed feed: ")


def test_feedparser_crash_becomes_an_error() -> None:
    """An out-of-range character reference: expat rejects the document, and feedparser's
    fallback parser then calls chr() on the number and raises."""
    document = rss([{"title": "placeholder"}]).replace("placeholder", "bad &#99999999; ref")

    feed = parse_feed(document.encode(), FEED_URL)

    assert feed.articles == []
    assert feed.error == "could not parse: ValueError('chr() arg not in range(0x110000)')"


def test_empty_but_valid_feed_is_not_an_error() -> None:
    feed = parse_feed(rss([], title="Quiet feed").encode(), FEED_URL)

    assert (feed.title, feed.articles, feed.error) == ("Quiet feed", [], None)


def test_html_page_is_not_a_feed() -> None:
    feed = parse_fixture("not_a_feed.html", content_type="text/html; charset=utf-8")

    assert (feed.articles, feed.error) == ([], NOT_A_FEED)


def test_billion_laughs_is_refused_before_any_parser_sees_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_parser(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an XML parser was given an entity declaration")

    for reader in ("read_well_formed", "read_broken"):
        monkeypatch.setattr(f"bot.sources.parse.{reader}", no_parser)
    feed = parse_fixture("billion_laughs.xml")

    assert (feed.articles, feed.error) == ([], ENTITIES_REFUSED)


def test_entity_declarations_are_refused_in_utf16_too() -> None:
    utf16 = fixture("billion_laughs.xml").decode().replace('<?xml version="1.0"?>', "")

    assert parse_feed(utf16.encode("utf-16"), FEED_URL).error == ENTITIES_REFUSED


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("javascript:alert(1)", ""),
        ("data:text/html,<b>hi</b>", ""),
        ("mailto:desk@news.example", ""),
        ("http://[broken/story", ""),
        ("//cdn.example/story", "https://cdn.example/story"),
        ("  ../story  ", "https://feeds.example.net/story"),
        ("HTTP://Caps.example/x", "HTTP://Caps.example/x"),
    ],
)
def test_links_are_absolute_http_or_nothing(link: str, expected: str) -> None:
    [article] = parse_feed(rss([{"title": "t", "link": link}]).encode(), FEED_URL).articles

    assert article.link == expected


def test_items_are_capped_keeping_the_first() -> None:
    document = rss({"title": f"Story {n}", "link": f"https://x.example/{n}"} for n in range(5))

    feed = parse_feed(document.encode(), FEED_URL, max_items=3)

    assert [article.title for article in feed.articles] == ["Story 0", "Story 1", "Story 2"]


def test_feed_built_by_the_test_helper_round_trips() -> None:
    """The end-to-end tests build their feeds with `rss()`; it must say what they meant."""
    document = rss(
        [
            {
                "title": "Tom & Jerry <3",
                "link": "https://x.example/1",
                "guid": "one",
                "description": "<p>Short</p>",
                "content": "<p>Long &amp; full</p>",
                "categories": ["Cartoons", "Cats"],
                "pub_date": datetime(2024, 3, 4, 12, 0),
            }
        ]
    )

    [article] = parse_feed(document.encode(), FEED_URL).articles

    assert article == Article(
        title="Tom & Jerry <3",
        link="https://x.example/1",
        guid="one",
        summary="Short",
        content="Long & full",
        categories=("Cartoons", "Cats"),
        published=datetime(2024, 3, 4, 12, 0, tzinfo=UTC),
    )


def test_test_helper_rejects_unknown_item_keys() -> None:
    with pytest.raises(ValueError, match="unknown RSS item keys"):
        rss([{"titel": "typo"}])


def test_unreadable_date_is_none_without_warnings() -> None:
    document = rss([{"title": "Dated nonsense"}]).replace(
        "<title>Dated nonsense</title>", "<title>Dated nonsense</title><pubDate>soon</pubDate>"
    )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [article] = parse_feed(document.encode(), FEED_URL).articles

    assert article.published is None


def test_html_to_text() -> None:
    assert html_to_text("plain   text\n") == "plain text"
    assert html_to_text("<p>One</p><p>Two<br>Three</p>") == "One Two Three"
    assert html_to_text("a <b>bold</b> <a href='x'>link</a>.") == "a bold link."
    assert html_to_text("caf&eacute; &amp; &#44060;") == "café & 개"
    assert html_to_text("<style>p {}</style>Text<script>alert(1)</script>") == "Text"


def test_html_to_text_separates_blocks_but_not_inline_tags() -> None:
    assert html_to_text("x<p>y</p>z") == "x y z"
    assert html_to_text("Ko<b>rea</b>") == "Korea"
    assert html_to_text("<DIV\nclass=x>a</DIV>b") == "a b"
    assert html_to_text("AT&amp;T &lt;b&gt;") == "AT&T <b>"


# -- JSON Feed ---------------------------------------------------------------------------------


def test_json_feed_11() -> None:
    feed = parse_fixture("jsonfeed11.json", content_type="application/feed+json")

    assert (feed.error, feed.title) == (None, "Defence Notes")
    outlook, plain, undated = feed.articles
    assert outlook == Article(
        title="KIDA publishes its <annual> outlook",  # plain text, says the spec
        link="https://feeds.example.net/2025/kida-outlook",  # relative to the feed
        guid="https://notes.example.org/2025/kida-outlook",
        summary="An outlook from KIDA.",
        content="The Korea Institute for Defense Analyses published its outlook.",
        categories=("KIDA", "defence"),  # de-duplicated; the number 7 is not a tag
        published=datetime(2025, 4, 16, 0, 30, tzinfo=UTC),
    )
    assert plain.link == "https://elsewhere.example.com/story"  # external_url without url
    assert plain.guid == "42"  # a number where the spec wants a string
    assert plain.content == "Plain text with a literal <tag> & an ampersand."
    assert plain.summary == plain.content  # no summary: the content stands in, as in RSS
    # A naive date in a feed whose language is Korean is Korean time.
    assert plain.published == datetime(2025, 4, 15, 9, 0, tzinfo=UTC)
    assert (undated.link, undated.published) == ("", None)  # javascript: is no link


def test_json_feed_10() -> None:
    feed = parse_fixture("jsonfeed10.json")

    assert feed.title == "Old JSON Feed"
    assert feed.articles == [
        Article(
            title="First",
            link="https://old.example.com/1",
            guid="1",
            summary="Hello",
            content="Hello",
            published=datetime(2024, 3, 4, 10, 0, tzinfo=UTC),
        )
    ]


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "malformed JSON Feed: "),
        (b'{"name": "not a feed"}', "not a feed: JSON without a jsonfeed.org version"),
        (b"[1, 2, 3]", "not a feed: JSON without a jsonfeed.org version"),
        (b"[" * 100_000, "malformed JSON Feed: "),
    ],
)
def test_json_that_is_not_a_json_feed(document: bytes, error: str) -> None:
    feed = parse_feed(document, FEED_URL)

    assert feed.articles == [] and feed.error is not None and feed.error.startswith(error)


def test_json_feed_items_of_the_wrong_type_are_skipped() -> None:
    document = b'{"version": "https://jsonfeed.org/version/1", "title": 5, "items": {"a": 1}}'

    assert parse_feed(document, FEED_URL) == ParsedFeed(title="", articles=[])


# -- more formats and quirks -------------------------------------------------------------------


def test_atom03() -> None:
    [entry] = parse_fixture("atom03.xml").articles

    assert entry == Article(
        title="Old format, still served",
        link="https://legacy.example.com/2024/03/old-format",
        guid="tag:legacy.example.com,2024:1",
        summary="Atom 0.3 has issued and modified.",
        content="Escaped HTML content.",
        categories=("Archive",),
        published=datetime(2024, 3, 4, 0, 0, tzinfo=UTC),  # issued, 09:00 +09:00
    )


def test_dates_in_every_common_format_and_ttl() -> None:
    feed = parse_fixture("dates.xml")

    assert feed.ttl_seconds == 30 * 60
    dated = {article.title: article.published for article in feed.articles}
    nine_thirty_kst = datetime(2025, 4, 16, 0, 30, tzinfo=UTC)
    # The channel's language is Korean, so dates without a zone are Korean time.
    assert {title for title, when in dated.items() if when == nine_thirty_kst} == {
        "rfc822",
        "rfc822 no weekday, zone name",
        "rfc822 two-digit year, GMT",
        "iso8601 in pubDate",
        "korean dotted, no zone",
        "korean words",
        "dc:date only",
        "no zone at all",
    }
    assert dated["unreadable"] is None and dated["missing"] is None


@pytest.mark.parametrize("ttl", ["0", "-5", "often", "99999999"])
def test_nonsense_ttl_is_no_hint(ttl: str) -> None:
    document = rss([{"title": "t"}]).replace("<channel>", f"<channel><ttl>{ttl}</ttl>")

    assert parse_feed(document.encode(), FEED_URL).ttl_seconds is None


def test_search_feed_keeps_the_publisher_suffix_for_dedup_to_see() -> None:
    herald, yonhap = parse_fixture("google_news_search.xml").articles

    assert herald.title.endswith(" - The Korea Herald")
    assert herald.link == "https://news.google.com/rss/articles/CBMiAAA?oc=5"
    assert herald.guid == "CBMiAAA"
    assert yonhap.summary == (
        "Seoul should bolster ties with Moscow Yonhap News Agency KIDA urges diplomacy "
        "The Korea Times"
    )


# -- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "title", "first"),
    [
        ("cp949_declared_euckr.xml", None, "똠방각하 뉴스", "뷁, 쀍 그리고 똠: 확장 완성형 글자"),
        (
            "shiftjis_undeclared.xml",
            None,
            "防衛ニュース",
            "北朝鮮が弾道ミサイルを発射、防衛省が発表",
        ),
        (
            "shiftjis_undeclared.xml",
            "text/xml; charset=utf-8",  # a wrong HTTP charset changes nothing
            "防衛ニュース",
            "北朝鮮が弾道ミサイルを発射、防衛省が発表",
        ),
        (
            "cp1252_declared_utf8.xml",
            None,
            "Café \u201cPolitique\u201d",
            "Élection : le résultat définitif \u2014 « analyse »",
        ),
    ],
)
def test_encoding_quirks(name: str, content_type: str | None, title: str, first: str) -> None:
    feed = parse_fixture(name, content_type=content_type)

    assert (feed.error, feed.title, feed.articles[0].title) == (None, title, first)


def test_euc_kr_without_any_declaration() -> None:
    undeclared = fixture("euckr.xml").replace(b' encoding="EUC-KR"', b"")

    feed = parse_feed(undeclared, FEED_URL)

    assert feed.articles[0].title == "북한, 동해상으로 탄도미사일 발사"


def test_utf8_declared_as_euc_kr_is_read_as_utf8() -> None:
    document = rss([{"title": "한국은행, 기준금리 동결"}]).replace(
        'encoding="utf-8"', 'encoding="euc-kr"'
    )

    [article] = parse_feed(document.encode(), FEED_URL).articles

    assert article.title == "한국은행, 기준금리 동결"


# -- parse_document ----------------------------------------------------------------------------


def test_parse_document_reads_feeds_like_parse_feed() -> None:
    for name in ("rss20.xml", "atom10.xml", "jsonfeed11.json"):
        assert parse_document(fixture(name), FEED_URL) == parse_feed(fixture(name), FEED_URL)


def test_parse_document_reads_a_page_as_its_articles() -> None:
    page = (FIXTURES / "pages" / "tag_page.html").read_bytes()
    url = "https://www.daily8.example/tag/KoreaInstituteforDefenseAnalyses"

    feed = parse_document(page, url, content_type="text/html")

    assert feed.error is None and len(feed.articles) == 3
    assert parse_feed(page, url).error == NOT_A_FEED  # parse_feed takes feeds only


def test_parse_document_reads_html_without_a_doctype_as_a_page() -> None:
    page = (
        "<body><ul>"
        + "".join(
            f'<li><a href="/news/{n}">Headline number {n} of the day</a></li>' for n in range(3)
        )
        + "</ul></body>"
    )

    feed = parse_document(page.encode(), "https://site.example/section")

    assert [article.link for article in feed.articles] == [
        f"https://site.example/news/{n}" for n in range(3)
    ]
