"""Hostile documents: every entry point survives random and mutated bytes, huge inputs are
capped and fast enough. (Body size, time per fetch and SSRF are in test_fetch.py.)"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sources import xmlfeed
from bot.sources.encoding import decode
from bot.sources.opml import read_opml
from bot.sources.parse import (
    MAX_ITEMS,
    ParsedFeed,
    discover_feeds,
    parse_article_list,
    parse_document,
    parse_feed,
)
from tests.fakes.feed_server import rss

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = sorted(path for path in FIXTURES.rglob("*") if path.is_file())
URL = "https://feeds.example.net/news/feed.xml"

ENTRY_POINTS: dict[str, Callable[[bytes, str | None], object]] = {
    "parse_feed": lambda data, content_type: parse_feed(data, URL, content_type=content_type),
    "parse_document": lambda data, content_type: parse_document(
        data, URL, content_type=content_type
    ),
    "parse_article_list": lambda data, content_type: parse_article_list(data, URL),
    "discover_feeds": lambda data, content_type: discover_feeds(data, URL),
    "decode": lambda data, content_type: decode(data, content_type),
}
CONTENT_TYPES = st.sampled_from([None, "text/xml", "text/html; charset=euc-kr", "x; charset=?"])
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_handled(result: object) -> None:
    """A result, not an exception, and not one that went through the catch-all `except`
    around our own code (the one around feedparser is needed: fuzzing makes it raise)."""
    if isinstance(result, ParsedFeed):
        assert not (result.error or "").startswith("could not read the document")
        assert result.error is None or result.articles == []


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """A fixture with a few random cuts, byte flips and insertions."""
    data = bytearray(draw(st.sampled_from(SAMPLES)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        if action == "truncate":
            del data[at:]
        elif action == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[at:at] = draw(
                st.sampled_from(
                    [b"<", b"&", b"]]>", b"<![CDATA[", b"\x00", b"\xff", b"{", b'"', b"<!--"]
                )
            )
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@FUZZ
@given(data=st.binary(max_size=4096), content_type=CONTENT_TYPES)
def test_random_bytes_never_raise(entry_point: str, data: bytes, content_type: str | None) -> None:
    assert_handled(ENTRY_POINTS[entry_point](data, content_type))


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@FUZZ
@given(data=mutated_samples(), content_type=CONTENT_TYPES)
def test_mutated_fixtures_never_raise(
    entry_point: str, data: bytes, content_type: str | None
) -> None:
    assert_handled(ENTRY_POINTS[entry_point](data, content_type))


@FUZZ
@given(st.one_of(st.binary(max_size=2048), mutated_samples()))
def test_opml_reader_only_ever_says_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        read_opml(data)


def big_feed(items: int) -> bytes:
    return rss(
        {
            "title": f"Story {n}",
            "link": f"https://x.example/{n}",
            "guid": f"g{n}",
            "description": f"<p>Body of story {n}</p>",
        }
        for n in range(items)
    ).encode()


@contextlib.contextmanager
def loose_reads() -> Iterator[list[int]]:
    """The sizes of the documents feedparser (the slow, loose reader) is given."""
    sizes: list[int] = []
    real = xmlfeed.feedparser.parse

    def parse(document: io.BytesIO, **kwargs: object) -> object:
        sizes.append(len(document.getvalue()))
        return real(document, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xmlfeed.feedparser, "parse", parse)
        yield sizes


@pytest.mark.parametrize("broken", [False, True], ids=["well-formed", "malformed"])
def test_ten_thousand_items_are_capped(broken: bool) -> None:
    """Well-formed, lxml reads it all; malformed, feedparser's loose parser (about 1 ms an
    item) is given the document cut after the cap."""
    document = big_feed(10_000)
    if broken:
        document = document.replace(b"</channel>", b"")

    with loose_reads() as sizes:
        feed = parse_feed(document, URL)

    assert len(feed.articles) == MAX_ITEMS
    assert feed.articles[-1].title == f"Story {MAX_ITEMS - 1}"
    if broken:
        assert len(sizes) == 1 and sizes[0] < len(document) * (MAX_ITEMS + 1) / 10_000
    else:
        assert sizes == []


def test_megabytes_of_broken_text_reach_the_loose_parser_cut_short() -> None:
    """feedparser spends about 2 s of CPU per MB of broken text: it gets at most a megabyte,
    and the items before the cut still come out."""
    story = b"<item><title>Early story</title><link>https://x.example/1</link></item>"
    junk = b"<item><title>Junk</title><description>" + b"a & b " * 1_500_000
    with loose_reads() as sizes:
        feed = parse_feed(b"<rss><channel>" + story + junk, URL)

    assert sizes and max(sizes) <= xmlfeed.LOOSE_MAX_CHARS + 100
    assert feed.articles[0].title == "Early story"


def test_page_with_fifty_thousand_links_is_capped_and_fast() -> None:
    links = "".join(
        f'<li><a href="/news/{n}">Headline number {n} of the day</a></li>' for n in range(50_000)
    )
    page = f"<!doctype html><html><body><ul>{links}</ul></body></html>".encode()

    feed = parse_document(page, "https://site.example/section")

    assert len(feed.articles) == MAX_ITEMS


def test_deeply_nested_xml_is_handled() -> None:
    document = b"<rss><channel>" + b"<x>" * 100_000 + b"</x>" * 100_000 + b"</channel></rss>"

    assert_handled(parse_document(document, URL))
