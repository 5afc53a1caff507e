"""Web pages given where a feed was expected: find their feeds, or read them as a feed.

A section or tag page ("Latest news with #KoreaInstituteforDefenseAnalyses") is a list of
headline links, often with a time and a line of summary. Menus, footers and "most read"
boxes are link lists too, so the reader drops the page's furniture first, then takes the
largest repeated structure of same-site headline links: `<article>` elements, else linked
headings, else repeated link lists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.sources.dates import publisher_zone
from bot.sources.encoding import decode
from bot.sources.feed import MAX_ITEMS, Entry, ParsedFeed, read_entries
from bot.sources.text import TAG_START, collapse, nth_start, web_link

NO_ARTICLES = "not a feed: the page has no feed links and no list of article links"
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
    }
)
MIN_HEADLINE = 12  # characters; shorter link texts are menu entries ("Politics", "경제")
MAX_LINKS = 5000  # links looked at; a section page has hundreds, a hostile one millions
# Tags read: a big portal page has ~15,000; the HTML5 tree builder is quadratic in the depth
# of unclosed <div>s, so a hostile page is cut here (at worst ~1.5 s).
MAX_TAGS = 25_000
# Not <form>: ASP.NET sites wrap the whole page in one.
_FURNITURE = "nav, footer, aside, [role=navigation], [role=contentinfo], [role=banner]"
_FURNITURE_WORDS = frozenset(
    {"nav", "navbar", "gnb", "lnb", "snb", "menu", "footer", "breadcrumb", "sidebar", "aside"}
)
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_TIMES = "time, [class*=date], [class*=time]"
# Second-level labels under which registrations sit in country domains (news.example.co.kr).
_SECOND_LEVEL = frozenset({"co", "or", "go", "ac", "ne", "re", "com", "net", "org", "gov", "edu"})


def discover_feeds(html: bytes | str, base_url: str) -> list[str]:
    """The feeds a page announces with `<link rel="alternate">`, absolute, first seen first."""
    tree = _tree(html)
    return _feed_links(tree, _base(tree, base_url))


def parse_article_list(
    html: bytes | str,
    url: str,
    *,
    max_items: int = MAX_ITEMS,
    seen: frozenset[int] = frozenset(),
) -> ParsedFeed:
    """A page's list of articles (headline, link, time and summary where present); never
    raises. `alternates` lists the page's own feeds, which are better to poll when present.

    Finding the headlines is most of the work and is done whatever `seen` holds; an item's
    fingerprint is that of its Entry, and those in `seen` are left out of `articles` (see
    `feed.read_items`)."""
    tree = _tree(html)
    base = _base(tree, url)
    alternates = tuple(_feed_links(tree, base))
    title_node = tree.css_first("title")
    title = collapse(title_node.text()) if title_node else ""
    html_node = tree.css_first("html")
    zone = publisher_zone(html_node.attributes.get("lang") if html_node else None, url)
    _drop_furniture(tree)
    links = _Links(base)
    entries = [_entry(pair, links) for pair in _headlines(tree, links)[:max_items]]
    articles, fingerprints = read_entries(entries, zone, seen)
    # On every item, seen or not: a page whose headlines were all seen is not empty.
    error = None if fingerprints or alternates else NO_ARTICLES
    return ParsedFeed(
        title=title,
        articles=articles,
        error=error,
        alternates=alternates,
        fingerprints=fingerprints,
    )


def _tree(html: bytes | str) -> LexborHTMLParser:
    text = html if isinstance(html, str) else decode(html).text
    return LexborHTMLParser(text[: nth_start(TAG_START, text, MAX_TAGS)])


def _base(tree: LexborHTMLParser, url: str) -> str:
    """What relative links are relative to: `<base href>` when the page sets one."""
    base = tree.css_first("base[href]")
    return (web_link(base.attributes.get("href") or "", url) or url) if base else url


def _feed_links(tree: LexborHTMLParser, base: str) -> list[str]:
    found = []
    for link in tree.css("link[rel][href]"):
        rel = (link.attributes.get("rel") or "").lower().split()
        media_type = (link.attributes.get("type") or "").split(";")[0].strip().lower()
        if "alternate" in rel and media_type in FEED_TYPES:
            found.append(web_link(link.attributes.get("href") or "", base))
    return list(dict.fromkeys(filter(None, found)))


def _drop_furniture(tree: LexborHTMLParser) -> None:
    """Remove what is on every page of the site: menus, footers, sidebars, scripts."""
    tree.strip_tags(["script", "style", "noscript", "template", "svg", "iframe"])
    doomed = list(tree.css(_FURNITURE))
    doomed += [node for node in tree.css("header") if not _inside(node, "article")]
    doomed += [node for node in tree.css("[class], [id]") if _furniture_named(node)]
    ids = {node.mem_id for node in doomed}
    # Only the outermost: decomposing a node frees its subtree, children included.
    for node in doomed:
        if not any(ancestor.mem_id in ids for ancestor in _ancestors(node)):
            node.decompose()


def _furniture_named(node: LexborNode) -> bool:
    """A box whose class or id says it is navigation (Korean sites: gnb, lnb) or a footer."""
    names = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"
    return not _FURNITURE_WORDS.isdisjoint(names.lower().replace("_", "-").split())


class _Links:
    """The page's links, each resolved once (urljoin is most of the cost of a big page)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.site = _site(base)
        self._urls: dict[int, str] = {}

    def url(self, anchor: LexborNode) -> str:
        url = self._urls.get(anchor.mem_id)
        if url is None:
            url = self._urls[anchor.mem_id] = web_link(
                anchor.attributes.get("href") or "", self.base
            )
        return url

    def candidate(self, anchor: LexborNode) -> bool:
        """A link that can be a headline: to another page of the same site, with real text."""
        url = self.url(anchor)
        if not url or _site(url) != self.site or url.split("#")[0] == self.base.split("#")[0]:
            return False
        return len(_headline_text(anchor)) >= MIN_HEADLINE


def _headlines(tree: LexborHTMLParser, links: _Links) -> list[tuple[LexborNode, LexborNode]]:
    """(headline link, the item around it) for each article listed, in page order."""
    articles = [
        (anchor, article)
        for article in tree.css("article")[:MAX_LINKS]
        if (anchor := _headline_link(article.css("a[href]"), links)) is not None
    ]
    if len(articles) >= 2:
        return _unique(articles, links)
    headings = tree.css(", ".join(_HEADINGS))[:MAX_LINKS]
    linked = [a for h in headings if (a := _heading_link(h)) is not None and links.candidate(a)]
    chosen = _largest_group(linked, minimum=2)
    if not chosen:
        anchors = [a for a in tree.css("a[href]")[:MAX_LINKS] if links.candidate(a)]
        chosen = _largest_group(anchors, minimum=3)
    return _unique(_with_items(chosen, links), links)


def _heading_link(heading: LexborNode) -> LexborNode | None:
    """The link in a heading, or the link a heading sits in."""
    inner = heading.css_first("a[href]")
    if inner is not None:
        return inner
    node = heading.parent
    while node is not None and node.tag != "a":
        node = node.parent
    return node if node is not None and node.attributes.get("href") else None


def _headline_link(anchors: Iterable[LexborNode], links: _Links) -> LexborNode | None:
    """An article's headline: its linked heading, else its longest same-site link text."""
    candidates = [anchor for anchor in anchors if links.candidate(anchor)]
    for anchor in candidates:
        if anchor.css_first(", ".join(_HEADINGS)) is not None or _inside(anchor, *_HEADINGS):
            return anchor
    return max(candidates, key=lambda anchor: len(_headline_text(anchor)), default=None)


def _largest_group(anchors: list[LexborNode], minimum: int) -> list[LexborNode]:
    """The anchors sharing the commonest structure (their own and their ancestors' tags and
    classes): the page's main list repeats one template, furniture does not."""
    signatures = [_signature(anchor) for anchor in anchors]
    counts = Counter(signatures)
    if not counts:
        return []
    best, size = counts.most_common(1)[0]  # ties: the structure seen first in the page
    if size < minimum:
        return []
    return [anchor for anchor, s in zip(anchors, signatures, strict=True) if s == best]


def _signature(node: LexborNode, depth: int = 3) -> tuple[tuple[str, str], ...]:
    steps: list[tuple[str, str]] = []
    current: LexborNode | None = node
    while current is not None and len(steps) < depth:
        steps.append((current.tag or "", current.attributes.get("class") or ""))
        current = current.parent
    return tuple(steps)


def _with_items(anchors: list[LexborNode], links: _Links) -> list[tuple[LexborNode, LexborNode]]:
    """Each link with its item: the largest ancestor holding no other listed article, so that
    the time and summary next to a headline are found and a neighbour's are not."""
    holds: dict[int, set[str]] = {}
    for anchor in anchors:
        for node in _ancestors(anchor):
            holds.setdefault(node.mem_id, set()).add(links.url(anchor))
    paired = []
    for anchor in anchors:
        item = anchor
        for node in _ancestors(anchor):
            if len(holds[node.mem_id]) > 1:
                break
            item = node
        paired.append((anchor, item))
    return paired


def _unique(
    pairs: list[tuple[LexborNode, LexborNode]], links: _Links
) -> list[tuple[LexborNode, LexborNode]]:
    """One entry per linked page: a card often links its picture and its headline."""
    seen: set[str] = set()
    unique = []
    for anchor, item in pairs:
        if links.url(anchor) not in seen:
            seen.add(links.url(anchor))
            unique.append((anchor, item))
    return unique


def _entry(pair: tuple[LexborNode, LexborNode], links: _Links) -> Entry:
    anchor, item = pair
    title = _headline_text(anchor)
    return Entry(
        title=(title, "text/plain"),
        link=links.url(anchor),
        guid=links.url(anchor),
        summary=(_summary(item, anchor, title), "text/plain"),
        dates=list(_times(item)),
        base=links.base,
    )


def _headline_text(anchor: LexborNode) -> str:
    heading = anchor.css_first(", ".join(_HEADINGS))
    return collapse((heading or anchor).text(separator=" "))


def _summary(item: LexborNode, anchor: LexborNode, title: str) -> str:
    for paragraph in item.css("p"):
        text = collapse(paragraph.text(separator=" "))
        if text and text != title and not _inside(paragraph, "a") and not paragraph.css(_TIMES):
            return text
    return ""


def _times(item: LexborNode) -> Iterator[str]:
    """Machine-readable times first (`<time datetime>`), then the text of time-like boxes."""
    for node in item.css("time[datetime]"):
        yield node.attributes.get("datetime") or ""
    for node in item.css(_TIMES):
        # Its own text first: `<time><i class="icon">time</i>16-04-2025</time>`.
        yield collapse(node.text(deep=False))
        yield collapse(node.text(separator=" "))


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    current = node.parent
    while current is not None and current.tag not in ("body", "html", "-undef"):
        yield current
        current = current.parent


def _inside(node: LexborNode, *tags: str) -> bool:
    return any(ancestor.tag in tags for ancestor in _ancestors(node))


def _site(url: str) -> str:
    """The registrable part of a URL's host, near enough without a public-suffix list."""
    try:
        labels = (urlsplit(url).hostname or "").split(".")
    except ValueError:
        return ""
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])
