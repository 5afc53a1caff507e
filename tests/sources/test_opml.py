"""OPML import/export and the feed catalogue bundled with the bot."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.sources.opml import OpmlSource, bundled_catalogue, read_opml, write_opml

TOPICS = {"defence", "politics", "economy", "technology", "world", "korea"}

ALPHA = OpmlSource(
    "https://a.example/rss", "Alpha & Co <news>", "en", "world", "https://a.example/"
)
BETA = OpmlSource("https://b.example/feed?x=1&y=2", "베타 뉴스", "ko", "korea")
GAMMA = OpmlSource("https://c.example/atom", "Gamma", "en", "world")
DELTA = OpmlSource("https://d.example/rss", "Delta")
SOURCES = [ALPHA, GAMMA, BETA, DELTA]  # already in the order write_opml groups them


def opml(body: str) -> str:
    return f'<?xml version="1.0"?><opml version="2.0"><head/><body>{body}</body></opml>'


def test_write_then_read_round_trips() -> None:
    assert read_opml(write_opml(SOURCES)) == SOURCES


def test_write_groups_feeds_in_one_folder_per_topic() -> None:
    document = write_opml([ALPHA, BETA, GAMMA, DELTA], title="My feeds")

    assert "<title>My feeds</title>" in document
    assert document.count('<outline text="world"') == 1
    assert read_opml(document) == [ALPHA, GAMMA, BETA, DELTA]


def test_read_from_bytes_str_and_path(tmp_path: Path) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text(write_opml(SOURCES), encoding="utf-8")

    assert read_opml(path) == read_opml(path.read_bytes()) == read_opml(path.read_text()) == SOURCES


def test_nested_outlines_take_their_folder_as_topic() -> None:
    document = opml(
        '<outline text="News"><outline text="Asia">'
        '<outline text="Deep feed" xmlUrl="https://deep.example/rss"/>'
        "</outline></outline>"
        '<outline title="Top" text="ignored" xmlUrl="https://top.example/rss" category="/Tech/AI"/>'
        '<outline xmlUrl=" https://bare.example/rss "/>'
    )

    assert read_opml(document) == [
        OpmlSource("https://deep.example/rss", "Deep feed", topic="Asia"),
        OpmlSource("https://top.example/rss", "Top", topic="AI"),
        OpmlSource("https://bare.example/rss", "https://bare.example/rss"),
    ]


def test_deeply_nested_outlines_do_not_crash() -> None:
    depth = 5000
    document = opml(
        '<outline text="folder">' * depth
        + '<outline text="Deep" xmlUrl="https://deep.example/rss"/>'
        + "</outline>" * depth
    )

    assert read_opml(document) == [OpmlSource("https://deep.example/rss", "Deep", topic="folder")]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("<opml><body><outline", "is not valid OPML"),
        ("", "is not valid OPML"),
        ('<rss version="2.0"><channel/></rss>', "its root element is <rss>, not <opml>"),
        (opml('<outline text="Empty folder"/>'), "lists no feeds"),
        ('<opml version="2.0"><head/></opml>', "lists no feeds"),
        (
            '<!DOCTYPE opml [<!ENTITY x "y">]><opml><body>'
            '<outline xmlUrl="https://x.example/&x;"/></body></opml>',
            "is not valid OPML",
        ),
        (b'<?xml version="1.0" encoding="no-such-codec"?><opml/>', "unknown encoding"),
    ],
)
def test_bad_documents_raise_value_error(document: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_opml(document)


def test_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body>", encoding="utf-8")

    with pytest.raises(ValueError, match=r"broken\.opml is not valid OPML"):
        read_opml(broken)
    with pytest.raises(ValueError, match=r"missing\.opml could not be read"):
        read_opml(tmp_path / "missing.opml")


def test_bundled_catalogue_is_usable() -> None:
    sources = read_opml(bundled_catalogue())

    assert len(sources) >= 40
    assert len({source.url for source in sources}) == len(sources)
    for source in sources:
        parts = urlsplit(source.url)
        assert parts.scheme in ("http", "https") and parts.hostname, source
        assert source.title and source.html_url, source
        assert source.language in ("en", "ko"), source
        assert source.topic in TOPICS, source
    assert {source.topic for source in sources} == TOPICS
    assert {source.language for source in sources} == {"en", "ko"}


def test_bundled_catalogue_is_in_the_writer_format() -> None:
    """The catalogue is edited by hand; keeping it in write_opml's layout keeps diffs small."""
    catalogue = bundled_catalogue()

    assert catalogue.name == "catalogue.opml"
    assert write_opml(read_opml(catalogue), title="newsbot catalogue of news feeds") == (
        catalogue.read_text(encoding="utf-8")
    )
