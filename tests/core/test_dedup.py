"""canonical_url and story_keys: one story, however a feed re-publishes it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.article import Article
from bot.core.dedup import MAX_KEY_LENGTH, canonical_url, story_keys

SOURCE = "https://www.koreaherald.com/rss/newsAll"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("HTTP://Example.COM/a", "https://example.com/a"),  # scheme, host; http is https
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a/", "https://example.com/a"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        (
            "https://example.com/a?id=7&utm_source=rss&utm_medium=feed&UTM_Campaign=x"
            "&utm_whatever=1&fbclid=F&gclid=G&dclid=D&msclkid=M&mc_cid=C&mc_eid=E"
            "&igshid=I&ref_src=twsrc&_ga=1.2",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?utm_source=rss", "https://example.com/a"),
        ("https://example.com/a?utm%5Fsource=rss&id=1", "https://example.com/a?id=1"),
        ("https://example.com/a?ref=home", "https://example.com/a?ref=home"),  # not tracking
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://user@Example.com/a", "https://user@example.com/a"),
        ("http://[::1]:8080/a/", "https://[::1]:8080/a"),
        ("https://bücher.de/straße", "https://xn--bcher-kva.de/stra%C3%9Fe"),
        ("", ""),
        ("   ", ""),
        ("tag:example.com,2025:1", "tag:example.com,2025:1"),  # not http(s): as is
        ("ftp://Example.com/a/", "ftp://Example.com/a/"),
        ("/relative/path", "/relative/path"),
        ("http://example.com:notaport/", "http://example.com:notaport/"),
        ("http://\\\\0", "http://\\\\0"),  # w3lib finds no host here: left alone
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_republished_link_variants_share_one_canonical_url() -> None:
    variants = [
        "https://www.koreaherald.com/article/10518040",
        "http://www.koreaherald.com/article/10518040/",
        "https://WWW.KoreaHerald.com/article/10518040?utm_source=rss#top",
        "https://www.koreaherald.com:443/article/10518040?fbclid=abc",
    ]
    assert len({canonical_url(url) for url in variants}) == 1


urls = st.one_of(
    st.text(),
    st.builds(
        "{}://{}{}{}{}".format,
        st.sampled_from(["http", "https", "HTTP", "ftp"]),
        st.sampled_from(["example.com", "Example.COM:80", "a.b:443", "[::1]:8080", "bücher.de"]),
        st.text(alphabet="/abc%2F.é ", max_size=12).map(lambda path: "/" + path),
        st.lists(
            st.tuples(st.sampled_from(["a", "B", "utm_x", "fbclid", "q", ""]), st.text(max_size=5)),
            max_size=4,
        ).map(lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else ""),
        st.sampled_from(["", "#frag", "#"]),
    ),
)


@given(urls)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


# --- story_keys ---


def test_keys_from_link_and_tag_guid() -> None:
    article = Article(
        title="t", link="http://example.com/a/?utm_source=rss", guid="tag:example.com,2025:42"
    )
    assert story_keys(article, SOURCE) == [
        "url:https://example.com/a",
        "guid:tag:example.com,2025:42",
    ]


def test_a_url_guid_is_a_url_key_too() -> None:
    article = Article(title="t", link="https://example.com/a", guid="http://example.com/?p=42")
    assert story_keys(article, SOURCE) == [
        "url:https://example.com/a",
        "url:https://example.com/?p=42",
        "guid:http://example.com/?p=42",
    ]


def test_a_guid_equal_to_the_link_gives_one_url_key() -> None:
    article = Article(title="t", link="https://example.com/a", guid="https://example.com/a/")
    assert story_keys(article, SOURCE) == [
        "url:https://example.com/a",
        "guid:https://example.com/a/",
    ]


def test_a_bare_guid_is_scoped_by_the_feed_host() -> None:
    article = Article(title="t", guid="1234")
    herald = story_keys(article, "https://www.KoreaHerald.com/rss")
    other = story_keys(article, "https://news.example.org/feed.xml")
    assert herald == ["guid:www.koreaherald.com|1234"]
    assert other == ["guid:news.example.org|1234"]


def test_a_urn_guid_is_global() -> None:
    article = Article(title="t", guid="urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")
    assert story_keys(article, SOURCE) == ["guid:urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"]


def test_without_link_and_guid_the_title_is_the_key() -> None:
    article = Article(title="  KIDA's   Report! ")
    assert story_keys(article, SOURCE) == ["title:www.koreaherald.com|kida s report"]


def test_nothing_to_know_a_story_by_gives_no_key() -> None:
    assert story_keys(Article(title=" !! "), SOURCE) == []


def test_keys_are_capped_and_stay_distinct() -> None:
    long_a = Article(title="t", guid="tag:x," + "a" * 2000 + "1")
    long_b = Article(title="t", guid="tag:x," + "a" * 2000 + "2")
    [key_a] = story_keys(long_a, SOURCE)
    [key_b] = story_keys(long_b, SOURCE)
    assert len(key_a) == len(key_b) == MAX_KEY_LENGTH
    assert key_a != key_b
    assert story_keys(long_a, SOURCE) == [key_a]  # deterministic


@given(
    st.builds(Article, title=st.text(), link=st.text(), guid=st.text()),
    st.one_of(st.just(SOURCE), st.text()),
)
def test_story_keys_are_unique_bounded_and_never_raise(article: Article, source: str) -> None:
    keys = story_keys(article, source)
    assert len(keys) == len(set(keys))
    assert all(0 < len(key) <= MAX_KEY_LENGTH for key in keys)
