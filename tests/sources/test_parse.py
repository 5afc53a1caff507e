"""parse_feed on every feed dialect we meet in the wild, on broken input, and on random bytes."""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.article import Article
from bot.sources.parse import ENTITIES_REFUSED, NOT_A_FEED, ParsedFeed, html_to_text, parse_feed
from tests.fakes.feed_server import rss

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_NAMES = sorted(path.name for path in FIXTURES.iterdir())
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


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()

    feed = parse_fixture("billion_laughs.xml")

    assert time.perf_counter() - started < 0.5
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


# -- never raises ------------------------------------------------------------------------------

NEVER_RAISES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def assert_handled(feed: ParsedFeed) -> None:
    """A result, and not through the `except` that guards our own item conversion (the one
    around feedparser is needed: fuzzing makes feedparser itself raise now and then)."""
    assert isinstance(feed, ParsedFeed)
    assert not (feed.error or "").startswith("could not read the items")
    assert feed.error is None or feed.articles == []


@NEVER_RAISES
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(content: bytes) -> None:
    assert_handled(parse_feed(content, FEED_URL))


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> bytes:
    """A fixture with a few random cuts, byte flips and insertions."""
    data = bytearray(fixture(draw(st.sampled_from(FIXTURE_NAMES))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        if action == "truncate":
            del data[at:]
        elif action == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[at:at] = draw(
                st.sampled_from([b"<", b"&", b"]]>", b"<![CDATA[", b"\x00", b"\xff"])
            )
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@NEVER_RAISES
@given(mutated_fixtures(), st.sampled_from([None, "text/xml", "text/html; charset=euc-kr"]))
def test_mutated_fixtures_never_raise(content: bytes, content_type: str | None) -> None:
    assert_handled(parse_feed(content, FEED_URL, content_type=content_type))
