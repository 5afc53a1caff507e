"""Items seen last poll are not converted again: `seen` and `ParsedFeed.fingerprints`.

Every item has a fingerprint taken before it is converted; items whose fingerprint the
caller passes in `seen` are left out of `articles`, and whatever judges a document (empty,
broken, not a feed) still judges it on all its items. Checked on each reader: the strict
lxml one and feedparser (RSS and Atom), JSON Feed and HTML pages.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.article import Article
from bot.sources.feed import pack, unpack
from bot.sources.parse import NOT_A_FEED, ParsedFeed, parse_document, parse_feed
from bot.sources.xmlfeed import read_loose, read_strict
from tests.sources.test_hostile import CONTENT_TYPES, mutated_samples
from tests.sources.test_parse_paths import (
    DATES,
    FEED_URL,
    FIXTURES,
    atom_feeds,
    links,
    rss_feeds,
    texts,
)

# The pages with the URLs they are read from in test_pages.py: their headlines are links
# to the same site, so the URL decides what counts as one.
PAGE_URLS = {
    "pages/tag_page.html": "https://www.daily8.example/tag/KoreaInstituteforDefenseAnalyses",
    "pages/section_kr_euckr.html": "https://www.hanbando.example.co.kr/news/list.html?sc=defense",
    "pages/section_articles.html": "https://www.defensewire.example/asia-pacific/",
}
DOCUMENTS = sorted(
    str(path.relative_to(FIXTURES)) for path in FIXTURES.rglob("*") if path.is_file()
)
Reader = Callable[[str, str, int, frozenset[int]], ParsedFeed | None]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def no_articles(feed: ParsedFeed) -> ParsedFeed:
    return dataclasses.replace(feed, articles=[])


def assert_all_seen(first: ParsedFeed, again: ParsedFeed) -> None:
    """`again` read the same document with `seen=first.fingerprints`: nothing converted,
    everything else as the first time, error or none included."""
    assert again.articles == []
    assert again == no_articles(first)


def rss(*items: str, channel: str = "", attributes: str = "") -> str:
    return (
        f'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        f"{attributes}><channel><title>Wire</title>{channel}{''.join(items)}</channel></rss>"
    )


def rss_item(n: int, title: str = "", link: str = "", date: str = "") -> str:
    return (
        f"<item><title>{title or f'Story {n}'}</title><link>{link or f'/news/{n}'}</link>"
        f'<guid isPermaLink="false">g-{n}</guid>'
        f"<description>&lt;p&gt;Body of story {n}&lt;/p&gt;</description>"
        f"<content:encoded><![CDATA[<p>All of story {n}</p>]]></content:encoded>"
        f"<category>World</category>"
        f"<pubDate>{date or f'Mon, 0{n} Mar 2024 10:00:00'}</pubDate></item>"
    )


ITEMS = [rss_item(n) for n in (1, 2, 3)]


def seen_by(reader: Reader, text: str, url: str = FEED_URL) -> frozenset[int]:
    feed = reader(text, url, 100, frozenset())
    assert feed is not None and len(feed.fingerprints) == 3
    return feed.fingerprints


def read(reader: Reader, text: str, seen: frozenset[int], url: str = FEED_URL) -> ParsedFeed:
    feed = reader(text, url, 100, seen)
    assert feed is not None
    return feed


def fresh(reader: Reader, text: str, url: str = FEED_URL) -> list[Article]:
    return read(reader, text, frozenset(), url).articles


# -- the same document again -----------------------------------------------------------------


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_same_document_again_converts_nothing(name: str) -> None:
    url = PAGE_URLS.get(name, FEED_URL)
    first = parse_document(fixture(name), url)
    again = parse_document(fixture(name), url, seen=first.fingerprints)

    assert_all_seen(first, again)
    assert len(first.fingerprints) == len(set(first.articles))  # no two items alike here


def test_without_seen_every_item_is_converted() -> None:
    """The default and a `seen` from another document both leave every article in."""
    document = rss(*ITEMS).encode()
    other = parse_document(rss(rss_item(4)).encode(), FEED_URL).fingerprints
    full = parse_document(document, FEED_URL)

    assert [a.title for a in full.articles] == ["Story 1", "Story 2", "Story 3"]
    assert parse_document(document, FEED_URL, seen=other) == full
    assert parse_document(document, FEED_URL, seen=frozenset()) == full


def test_a_new_item_alone_comes_back_in_a_longer_feed() -> None:
    seen = parse_feed(rss(*ITEMS).encode(), FEED_URL).fingerprints
    feed = parse_feed(rss(rss_item(4), *ITEMS).encode(), FEED_URL, seen=seen)

    assert [a.title for a in feed.articles] == ["Story 4"]
    assert seen < feed.fingerprints and len(feed.fingerprints) == 4


# -- what makes an item new ------------------------------------------------------------------

# An item linked by its guid alone: whether the guid is a permalink says whether it has a link.
BY_GUID = ITEMS[1].replace("<link>/news/2</link>", "").replace("g-2", "https://x.example/2")
EDITS = {  # the middle item before and after
    "title": (ITEMS[1], rss_item(2, title="Story 2, corrected")),
    "link": (ITEMS[1], rss_item(2, link="/news/2-corrected")),
    "date": (ITEMS[1], rss_item(2, date="Mon, 02 Mar 2024 11:00:00")),
    "description": (ITEMS[1], ITEMS[1].replace("Body of story", "Body of the story")),
    "content": (ITEMS[1], ITEMS[1].replace("All of story", "All of the story")),
    "category": (ITEMS[1], ITEMS[1].replace("World", "Asia")),
    "guid": (ITEMS[1], ITEMS[1].replace("g-2", "g-2b")),
    "attribute": (BY_GUID, BY_GUID.replace('isPermaLink="false"', 'isPermaLink="true"')),
    "added element": (ITEMS[1], ITEMS[1].replace("</item>", "<category>Asia</category></item>")),
}
READERS = {"strict": read_strict, "loose": read_loose}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("edit", EDITS)
def test_an_edited_item_alone_comes_back(reader: Reader, edit: str) -> None:
    before, after = EDITS[edit]
    edited = rss(ITEMS[0], after, ITEMS[2])
    feed = read(reader, edited, seen_by(reader, rss(ITEMS[0], before, ITEMS[2])))

    assert feed.articles == [fresh(reader, edited)[1]]
    assert feed.articles != [fresh(reader, rss(ITEMS[0], before, ITEMS[2]))[1]]
    assert feed.fingerprints == read(reader, edited, frozenset()).fingerprints


def test_an_edit_the_readers_ignore_may_still_count_as_new() -> None:
    """The strict reader fingerprints an item's markup: an element it does not read is part
    of it, so changing one converts the item again, to the same Article. Never the reverse:
    an item is skipped only if nothing that makes its Article changed."""
    edited = ITEMS[1].replace("</item>", "<comments>/c/2</comments></item>")
    feed = read(read_strict, rss(ITEMS[0], edited, ITEMS[2]), seen_by(read_strict, rss(*ITEMS)))

    assert feed.articles == [fresh(read_strict, rss(*ITEMS))[1]]


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param({}, {"url": "https://mirror.example.org/feed.xml"}, id="document URL"),
        pytest.param(
            {"attributes": ' xml:base="https://a.example/"'},
            {"attributes": ' xml:base="https://b.example/"'},
            id="xml:base",
        ),
        pytest.param(
            {"channel": "<language>en</language>"},
            {"channel": "<language>ko</language>"},
            id="language",  # the dates have no zone: the publisher's is taken
        ),
    ],
)
def test_items_come_back_when_what_they_are_read_against_changes(
    reader: Reader, before: dict[str, str], after: dict[str, str]
) -> None:
    """Relative links resolve against the document URL or `xml:base`, naive dates are in the
    zone of the feed's language: the same item markup makes another Article."""
    before, after = dict(before), dict(after)  # the parameters are shared between readers
    url_before, url_after = before.pop("url", FEED_URL), after.pop("url", FEED_URL)
    seen = seen_by(reader, rss(*ITEMS, **before), url_before)
    feed = read(reader, rss(*ITEMS, **after), seen, url_after)

    assert feed.articles == fresh(reader, rss(*ITEMS, **after), url_after)
    assert feed.articles != fresh(reader, rss(*ITEMS, **before), url_before)


def test_an_item_comes_back_when_its_own_xml_base_changes() -> None:
    item = ITEMS[1].replace("<item>", '<item xml:base="https://a.example/">')
    moved = ITEMS[1].replace("<item>", '<item xml:base="https://b.example/">')
    feed = read(
        read_strict,
        rss(ITEMS[0], moved, ITEMS[2]),
        seen_by(read_strict, rss(ITEMS[0], item, ITEMS[2])),
    )

    assert [a.link for a in feed.articles] == ["https://b.example/news/2"]


def test_items_come_back_when_a_namespace_is_bound_elsewhere() -> None:
    """`content:` bound to another URI is another element, which the reader ignores."""
    elsewhere = rss(*ITEMS).replace("purl.org/rss/1.0/modules/content/", "other.example/ns/")
    feed = read(read_strict, elsewhere, seen_by(read_strict, rss(*ITEMS)))

    assert [a.content for a in feed.articles] == ["", "", ""]


ATOM = (
    '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}"><title>Notes</title>'
    "{entries}</feed>"
)


def atom_entry(n: int, title: str = "") -> str:
    return (
        f"<entry><id>tag:notes.example,2024:{n}</id><title>{title or f'Note {n}'}</title>"
        f'<link href="/notes/{n}"/><summary type="html">&lt;b&gt;Note&lt;/b&gt; {n}</summary>'
        f"<updated>2024-03-0{n}T10:00:00Z</updated></entry>"
    )


def atom(*entries: str, base: str = "https://notes.example/") -> str:
    return ATOM.format(base=base, entries="".join(entries))


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_atom_an_edited_entry_alone_comes_back(reader: Reader) -> None:
    entries = [atom_entry(n) for n in (1, 2, 3)]
    edited = atom(entries[0], atom_entry(2, title="Note 2, corrected"), entries[2])
    feed = read(reader, edited, seen_by(reader, atom(*entries)))

    assert feed.articles == [fresh(reader, edited)[1]]
    assert feed.articles[0].title == "Note 2, corrected"


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_atom_entries_come_back_when_the_feed_base_changes(reader: Reader) -> None:
    entries = [atom_entry(n) for n in (1, 2, 3)]
    moved = atom(*entries, base="https://moved.example/")
    feed = read(reader, moved, seen_by(reader, atom(*entries)))

    assert [a.link for a in feed.articles] == [
        f"https://moved.example/notes/{n}" for n in (1, 2, 3)
    ]


def test_a_broken_document_goes_to_feedparser_and_skips_seen_items_there() -> None:
    """An undefined entity: lxml declines the document, feedparser reads it."""
    broken = rss(*ITEMS, channel="<description>&nbsp;</description>")
    assert read_strict(broken, FEED_URL, 100) is None
    seen = parse_feed(broken.encode(), FEED_URL).fingerprints
    edited = broken.replace("Story 3", "Story 3, corrected")

    assert [a.title for a in parse_feed(edited.encode(), FEED_URL, seen=seen).articles] == [
        "Story 3, corrected"
    ]


# -- JSON Feed and pages ---------------------------------------------------------------------


def test_json_feed_an_edited_item_alone_comes_back() -> None:
    document = json.loads(fixture("jsonfeed11.json"))
    seen = parse_feed(json.dumps(document).encode(), FEED_URL).fingerprints
    document["items"][1]["content_text"] = "Corrected plain text."
    edited = json.dumps(document).encode()

    feed = parse_feed(edited, FEED_URL, seen=seen)
    assert feed.articles == [parse_feed(edited, FEED_URL).articles[1]]
    assert feed.articles[0].content == "Corrected plain text."


def test_json_feed_items_come_back_from_another_url_or_language() -> None:
    document = json.loads(fixture("jsonfeed11.json"))
    seen = parse_feed(json.dumps(document).encode(), FEED_URL).fingerprints
    moved = parse_feed(
        json.dumps(document).encode(), "https://mirror.example.org/f.json", seen=seen
    )
    document["language"] = "en"
    english = parse_feed(json.dumps(document).encode(), FEED_URL, seen=seen)

    assert moved.articles[0].link == "https://mirror.example.org/2025/kida-outlook"
    assert len(moved.articles) == len(seen) == 3  # the item that says nothing has none
    # The zone is in every fingerprint, so all come back, though only the item with a
    # naive date ("2025.04.15 18:00") reads differently in it.
    assert len(english.articles) == 3


def test_page_an_edited_headline_alone_comes_back() -> None:
    name = "pages/section_articles.html"
    url = PAGE_URLS[name]
    seen = parse_document(fixture(name), url).fingerprints
    edited = fixture(name).replace(b"Hanwha expands", b"Hanwha doubles")

    feed = parse_document(edited, url, seen=seen)
    assert [a.title for a in feed.articles] == [
        "Hanwha doubles artillery production lines in Poland and Romania"
    ]


def test_page_items_come_back_when_the_page_moves() -> None:
    """Relative headline links resolve against the page URL (or its `<base href>`)."""
    name = "pages/tag_page.html"
    first = parse_document(fixture(name), PAGE_URLS[name])
    moved_url = PAGE_URLS[name].replace("/tag/", "/tags/")
    moved = parse_document(fixture(name), moved_url, seen=first.fingerprints)

    assert moved.articles == parse_document(fixture(name), moved_url).articles != []


# -- a document whose items were all seen is not empty ---------------------------------------


@pytest.mark.parametrize(
    ("name", "reads"),
    [
        ("truncated.xml", "feedparser, which says why an empty feed is empty"),
        ("pages/tag_page.html", "a page, which is an error when it lists nothing"),
        ("jsonfeed10.json", "JSON Feed"),
    ],
)
def test_a_document_whose_items_were_all_seen_is_no_error(name: str, reads: str) -> None:
    url = PAGE_URLS.get(name, FEED_URL)
    first = parse_document(fixture(name), url)
    again = parse_document(fixture(name), url, seen=first.fingerprints)

    assert first.error is None and first.articles, reads
    assert again.error is None and again.articles == []
    assert again.fingerprints == first.fingerprints


def test_html_without_an_html_tag_is_still_read_as_a_page_when_all_seen() -> None:
    """feedparser finds no feed in it (NOT_A_FEED), so it is read as a page, seen or not."""
    page = fixture("pages/section_articles.html").decode()
    bare = page[page.index("<body") :]
    url = PAGE_URLS["pages/section_articles.html"]
    assert read_loose(bare, url, 100).error == NOT_A_FEED
    first = parse_document(bare.encode(), url)
    again = parse_document(bare.encode(), url, seen=first.fingerprints)

    assert len(first.articles) == 3
    assert_all_seen(first, again)


def test_items_that_say_nothing_have_no_fingerprint() -> None:
    """They make no Article, so nothing is skipped for them and an empty document stays
    empty (here: broken, and said to be) whatever `seen` holds."""
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><item></item><item><title>'
    first = parse_feed(empty, FEED_URL)
    again = parse_feed(empty, FEED_URL, seen=frozenset({1, 2, 3}))

    assert first.fingerprints == frozenset() and first.error is not None
    assert again == first


# -- any document ------------------------------------------------------------------------------


@st.composite
def json_feeds(draw: st.DrawFn) -> str:
    items = []
    for n in range(draw(st.integers(0, 4))):
        item: dict[str, object] = {"id": draw(st.sampled_from([str(n), n, None]))}
        for key, values in (
            ("title", texts),
            ("url", links),
            ("content_html", texts),
            ("content_text", texts),
            ("summary", texts),
            ("date_published", st.sampled_from(DATES)),
            ("tags", st.lists(texts, max_size=2)),
        ):
            if draw(st.booleans()):
                item[key] = draw(values)
        items.append(item)
    language = draw(st.sampled_from([{}, {"language": "ko"}, {"language": "en"}]))
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items, **language})


documents = st.one_of(
    rss_feeds().map(str.encode),
    atom_feeds().map(str.encode),
    json_feeds().map(str.encode),
    mutated_samples(),
    st.binary(max_size=1024),
)
ANY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ANY
@given(documents, CONTENT_TYPES)
def test_any_document_read_again_with_its_fingerprints_converts_nothing(
    document: bytes, content_type: str | None
) -> None:
    first = parse_document(document, FEED_URL, content_type=content_type)
    again = parse_document(document, FEED_URL, content_type=content_type, seen=first.fingerprints)

    assert_all_seen(first, again)


@ANY
@given(documents, st.data())
def test_any_seen_subset_leaves_out_exactly_its_items(document: bytes, data: st.DataObject) -> None:
    """With `seen`, `articles` is the full list less the articles of the seen items, in
    document order; the articles of one fingerprint's items are what reading with all the
    other fingerprints seen gives."""
    full = parse_document(document, FEED_URL)
    everything = full.fingerprints
    seen = (
        data.draw(st.frozensets(st.sampled_from(sorted(everything)))) if everything else frozenset()
    )
    feed = parse_document(document, FEED_URL, seen=seen)
    of = {f: parse_document(document, FEED_URL, seen=everything - {f}).articles for f in everything}

    assert no_articles(feed) == no_articles(full)
    assert Counter(full.articles) == Counter(a for f in everything for a in of[f])
    assert Counter(feed.articles) == Counter(a for f in everything - seen for a in of[f])
    remaining = iter(full.articles)
    assert all(article in remaining for article in feed.articles)  # a subsequence


def test_fingerprints_are_the_same_in_every_process() -> None:
    """They are stored with their source and read by whichever process polls it next, so
    they cannot depend on the process's salt for `hash` (PYTHONHASHSEED)."""
    names = [name for name in DOCUMENTS if not name.startswith("pages/")][:12]
    names += list(PAGE_URLS)
    script = (
        "import json, sys\n"
        "from bot.sources.parse import parse_document\n"
        "from tests.sources.test_parse_seen import PAGE_URLS, fixture\n"
        "from tests.sources.test_parse_paths import FEED_URL\n"
        "print(json.dumps({n: sorted(parse_document(fixture(n), PAGE_URLS.get(n, FEED_URL))"
        ".fingerprints) for n in sys.argv[1:]}))\n"
    )
    here = {
        name: sorted(parse_document(fixture(name), PAGE_URLS.get(name, FEED_URL)).fingerprints)
        for name in names
    }
    assert any(here.values())
    for seed in ("1", "2"):
        elsewhere = subprocess.run(
            [sys.executable, "-c", script, *names],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
        )
        assert json.loads(elsewhere.stdout) == here


@given(st.frozensets(st.integers(min_value=0, max_value=2**64 - 1), max_size=60))
def test_stored_fingerprints_come_back_as_they_were(fingerprints: frozenset[int]) -> None:
    assert unpack(pack(fingerprints)) == fingerprints
    assert unpack(None) == frozenset() == unpack(b"")
