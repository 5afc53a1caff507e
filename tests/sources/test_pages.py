"""Pages without feeds: their feed links, and their list of articles read as a feed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.article import Article
from bot.sources.pages import NO_ARTICLES, discover_feeds, parse_article_list

PAGES = Path(__file__).parent / "fixtures" / "pages"
TAG_PAGE = "https://www.daily8.example/tag/KoreaInstituteforDefenseAnalyses"
KOREAN_SECTION = "https://www.hanbando.example.co.kr/news/list.html?sc=defense"
ARTICLES_SECTION = "https://www.defensewire.example/asia-pacific/"


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def test_discover_feeds_resolves_and_deduplicates() -> None:
    feeds = discover_feeds(page("section_articles.html"), ARTICLES_SECTION)

    # Relative to <base href>; the duplicate, the stylesheet, the translation and the
    # javascript: link are gone; rel and type are matched without regard to case.
    assert feeds == [
        "https://www.defensewire.example/asia-pacific/feed/",
        "https://www.defensewire.example/asia-pacific/feed/atom/",
        "https://www.defensewire.example/asia-pacific/feed.json",
    ]


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html><head><title>No feeds</title></head></html>",
        '<link rel="alternate" type="text/html" href="/amp/">',
        '<link rel="alternate" type="application/rss+xml">',
        b"\xff\xfe\x00garbage",
    ],
)
def test_discover_feeds_finds_nothing_where_there_is_nothing(html: str | bytes) -> None:
    assert discover_feeds(html, "https://site.example/") == []


def test_tag_page_like_the_aggregator_the_project_started_from() -> None:
    feed = parse_article_list(page("tag_page.html"), TAG_PAGE)

    assert feed.error is None
    assert feed.title == "Latest news with #KoreaInstituteforDefenseAnalyses | Daily8"
    nato, moscow, drones = feed.articles
    assert nato.title == "Will NATO's new spending target be boon to S. Korea's defense exports?"
    assert nato.link == (
        "https://www.daily8.example/news/korea-herald/nato-spending-target-defense-exports-20250629"
    )
    assert nato.guid == nato.link
    assert nato.published == datetime(2025, 6, 29, 0, 12, tzinfo=UTC)  # <time datetime>
    assert nato.summary.startswith("Expectations are rising that South Korean defense firms")
    assert "\u2018That long-standing" in nato.summary  # entities decoded
    assert moscow.published == datetime(2025, 4, 16, tzinfo=UTC)  # the text "16-04-2025"
    assert drones.link == "https://www.daily8.example/news/yonhap/kida-report-north-korea-drones"
    assert drones.published is None
    # Menus, chips, the app promotion and the footer are not articles.
    assert all("/news/" in article.link for article in feed.articles)


def test_korean_section_page_in_euc_kr() -> None:
    feed = parse_article_list(page("section_kr_euckr.html"), KOREAN_SECTION)

    assert feed.title == "국방 : 정치 : 한반도일보"
    assert feed.articles == [
        Article(
            title='한국국방연구원 "나토 국방비 증액, 방산 수출 기회"',
            link="https://www.hanbando.example.co.kr/news/articleView.html?idxno=10231",
            guid="https://www.hanbando.example.co.kr/news/articleView.html?idxno=10231",
            summary=(
                "한국국방연구원(KIDA)은 유럽의 국방비 증액이 국내 방산업체에 기회가 될 것이라고 "
                "분석했다."
            ),
            published=datetime(2025, 4, 16, 0, 30, tzinfo=UTC),  # 09:30 KST
        ),
        Article(
            title='합참 "북한, 동해상으로 탄도미사일 발사"',
            link="https://www.hanbando.example.co.kr/news/articleView.html?idxno=10228",
            guid="https://www.hanbando.example.co.kr/news/articleView.html?idxno=10228",
            summary=(
                "합동참모본부는 북한이 오늘 오전 동해상으로 단거리 탄도미사일을 발사했다고 밝혔다."
            ),
            published=datetime(2025, 4, 15, 6, 20, tzinfo=UTC),  # 오후 3:20 KST
        ),
        Article(
            title="국방부, 내년도 국방예산 정부안 발표",
            link="https://www.hanbando.example.co.kr/news/articleView.html?idxno=10225",
            guid="https://www.hanbando.example.co.kr/news/articleView.html?idxno=10225",
            published=datetime(2025, 4, 14, 9, 5, tzinfo=UTC),
        ),
    ]


def test_section_page_of_article_elements() -> None:
    feed = parse_article_list(page("section_articles.html"), ARTICLES_SECTION)

    assert [(a.title, a.link, a.published) for a in feed.articles] == [
        (
            "South Korea and NATO agree on a consultative body for defense industry cooperation",
            "https://www.defensewire.example/asia-pacific/2025/06/30/korea-nato-defense-industry/",
            datetime(2025, 6, 30, 14, 0, tzinfo=UTC),
        ),
        (
            "Hanwha expands artillery production lines in Poland and Romania",
            "https://www.defensewire.example/asia-pacific/2025/06/28/hanwha-romania-artillery/",
            datetime(2025, 6, 28, tzinfo=UTC),
        ),
        (
            "Hyundai Rotem nears $6 billion deal to supply K2 tanks to Poland",
            "https://www.defensewire.example/asia-pacific/2025/06/27/k2-tanks-poland/",
            None,
        ),
    ]
    assert feed.articles[0].summary == (
        "Seoul and the alliance agreed this week to create a bilateral consultative body."
    )
    assert feed.alternates[0] == "https://www.defensewire.example/asia-pacific/feed/"


def test_items_are_capped() -> None:
    assert len(parse_article_list(page("tag_page.html"), TAG_PAGE, max_items=2).articles) == 2


def test_page_of_menus_only_has_no_articles() -> None:
    html = """<html><body><nav><a href="/a">A long menu entry number one</a>
        <a href="/b">A long menu entry number two</a><a href="/c">A long menu entry three</a>
        </nav><p>Welcome.</p><footer><a href="/about">About this site and its people</a>
        </footer></body></html>"""

    feed = parse_article_list(html, "https://site.example/")

    assert (feed.articles, feed.error) == ([], NO_ARTICLES)


def test_links_to_other_sites_are_not_headlines() -> None:
    html = (
        "<ul>"
        + "".join(
            f'<li><a href="https://elsewhere.example/{n}">Sponsored story number {n}</a></li>'
            for n in range(5)
        )
        + "</ul>"
    )

    assert parse_article_list(html, "https://site.example/").articles == []


def test_subdomains_of_the_same_site_are_the_same_site() -> None:
    html = (
        "<ul>"
        + "".join(
            f'<li><a href="https://news.site.co.kr/{n}">Headline number {n} of the day</a></li>'
            for n in range(3)
        )
        + "</ul>"
    )

    feed = parse_article_list(html, "https://www.site.co.kr/section")

    assert len(feed.articles) == 3
