"""Read RSS 0.9x/1.0/2.0 and Atom 0.3/1.0: a strict lxml reader first, feedparser after.

feedparser reads anything, broken XML included, but takes ~50 ms for a 50-item feed; lxml
reads a well-formed one in under 1 ms. So a well-formed document with a known root goes
through `read_strict`, and everything it declines (malformed XML, undefined entities, an
unknown root) through `read_loose`. Both only collect raw `Entry` strings; `feed.read_items`
does the rest, so the two agree field for field (tests/sources/test_parse_paths.py checks).
fastfeedparser was measured too and is not used: it invents ids from links, copies
descriptions into content and dates from guids, so its items differ from feedparser's.

Items whose fingerprint is in `seen` are not converted (see `feed.ParsedFeed`). The strict
reader fingerprints an item by its serialized element, before `_rss_entry` or `_atom_entry`
reads it, so a seen item costs neither; feedparser reads every item whatever we do, so the
loose reader fingerprints its Entries.
"""

from __future__ import annotations

import functools
import html.entities
import io
import re
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from itertools import islice
from typing import Any

import feedparser
from lxml import etree

from bot.sources.dates import publisher_zone
from bot.sources.feed import Entry, ParsedFeed, Text, fingerprint, read_entries, read_items
from bot.sources.text import TAG_START, as_text, nth_start, web_link

NOT_A_FEED = "not a feed: no items and no RSS/Atom root"

_RSS1 = "{http://purl.org/rss/1.0/}"
_RSS090 = "{http://my.netscape.com/rdf/simple/0.9/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_ATOM03 = "{http://purl.org/atom/ns#}"
_XML = "{http://www.w3.org/XML/1998/namespace}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PREFIXES = {
    "http://purl.org/rss/1.0/modules/content/": "content:",
    _DC[1:-1]: "dc:",
    "http://purl.org/dc/terms/": "dcterms:",
    _ATOM[1:-1]: "atom:",
    "http://search.yahoo.com/mrss/": "media:",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes:",
    "http://www.w3.org/1999/xhtml": "xhtml:",
}
_CORE = {"", _RSS1[1:-1], _RSS090[1:-1]}  # RSS element namespaces, read without a prefix
# What each field of an RSS item is read from, first found first; Atom's are below. Titles
# are plain text unless they look like HTML, descriptions are HTML, Atom elements say.
_RSS_TITLE = ("title", "dc:title", "media:title")
_RSS_SUMMARY = frozenset(
    {"description", "dc:description", "media:description", "atom:summary", "itunes:summary"}
)
_RSS_CONTENT = ("content:encoded", "atom:content", "xhtml:body")
_RSS_HTML = frozenset({"description", "dc:description", "media:description", "content:encoded"})
_RSS_DATES = (
    *("pubDate", "atom:published", "dcterms:issued"),  # feedparser's "published"
    *("dc:date", "atom:updated", "dcterms:modified", "lastBuildDate"),  # its "updated"
)
_ATOM_DATES = ("published", "issued", "created", "updated", "modified")
_ATOM_TYPES = {"text": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# The elements feedparser's sanitizer accepts: RSS text is HTML when every tag is one of
# these and it has an end tag or a character reference (feedparser's test, kept so that
# both readers see the same type).
# fmt: off
_HTML_ELEMENTS = frozenset({
    "a", "abbr", "acronym", "address", "area", "article", "aside", "audio", "b", "big",
    "blockquote", "br", "button", "canvas", "caption", "center", "cite", "code", "col",
    "colgroup", "command", "datagrid", "datalist", "dd", "del", "details", "dfn", "dialog",
    "dir", "div", "dl", "dt", "em", "event-source", "fieldset", "figcaption", "figure", "font",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "input",
    "ins", "kbd", "keygen", "label", "legend", "li", "m", "map", "menu", "meter", "multicol",
    "nav", "nextid", "noscript", "ol", "optgroup", "option", "output", "p", "pre", "progress",
    "q", "s", "samp", "section", "select", "small", "sound", "source", "spacer", "span",
    "strike", "strong", "sub", "sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead",
    "time", "tr", "tt", "u", "ul", "var", "video",
})
# fmt: on
Named = list[tuple[str, etree._Element]]
"""Children of an element with their names (see `_name`), in document order."""
_END_TAG_OR_REFERENCE = re.compile(r"</\w+>|&#?\w+;")
_TAG_NAMES = re.compile(r"</?(\w+)")
_ENTITY_NAMES = re.compile(r"&(\w+);")


def read_xml_feed(
    text: str, url: str, max_items: int, seen: frozenset[int] = frozenset()
) -> ParsedFeed:
    """An RSS or Atom document (already decoded) as a ParsedFeed; never raises."""
    return read_well_formed(text, url, max_items, seen) or read_broken(text, url, max_items, seen)


def read_well_formed(
    text: str, url: str, max_items: int, seen: frozenset[int] = frozenset()
) -> ParsedFeed | None:
    """`read_xml_feed` by the strict reader only: None where the loose one is needed."""
    return read_strict(_XML_DECLARATION.sub("", text, count=1), url, max_items, seen)


def read_broken(
    text: str, url: str, max_items: int, seen: frozenset[int] = frozenset()
) -> ParsedFeed:
    """`read_xml_feed` by the loose reader only, for what `read_well_formed` cannot read."""
    return read_loose(_XML_DECLARATION.sub("", text, count=1), url, max_items, seen)


# -- the strict reader ---------------------------------------------------------------------


def read_strict(
    text: str, url: str, max_items: int, seen: frozenset[int] = frozenset()
) -> ParsedFeed | None:
    """lxml's reading of a well-formed feed, or None to leave the document to feedparser."""
    # A parser per call: lxml parsers must not be shared between threads.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,  # limits depth and text size: anything bigger goes to feedparser
    )
    try:
        root = etree.fromstring(text, parser, base_url=url)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root.tag == "rss":
        channel = root.find("channel")
        items = root.iter("item")
    elif root.tag == f"{_RDF}RDF":
        channel = root.find(f"{_RSS1}channel")
        if channel is None:
            channel = root.find(f"{_RSS090}channel")
        items = (child for child in root if _local(child.tag) == "item")
    elif root.tag in (f"{_ATOM}feed", f"{_ATOM03}feed"):
        namespace = root.tag[: -len("feed")]
        return _atom(root, namespace, url, max_items, seen)
    else:
        return None
    head = channel if channel is not None else root
    fields = _fields(_named(head))
    zone = publisher_zone(_first(fields, "language", "dc:language") or root.get(f"{_XML}lang"), url)
    articles, fingerprints = read_items(
        _fingerprinted(islice(items, max_items), zone), _rss_entry, zone, seen
    )
    return ParsedFeed(
        title=as_text(*_rss_text(_first(fields, "title", "dc:title"))),
        articles=articles,
        ttl_seconds=_ttl(_first(fields, "ttl")),
        fingerprints=fingerprints,
    )


def _fingerprinted(
    elements: Iterable[etree._Element], zone: tzinfo
) -> Iterator[tuple[int, etree._Element]]:
    """Each item element with its fingerprint: its markup, namespace declarations in scope
    included, with the base URL its links resolve against (the document's URL or an
    `xml:base` above it) and the zone its naive dates are read in. These are all that
    `_rss_entry` or `_atom_entry` and `read_items` read, so equal fingerprints make equal
    Articles. Serializing costs ~4 us an item, reading one into an Entry ~16 us."""
    where = repr(zone)
    for element in elements:
        markup = etree.tostring(element, encoding="unicode", with_tail=False)
        yield fingerprint(markup, element.base or "", where), element


def _rss_entry(item: etree._Element) -> Entry:
    named = _named(item)
    fields = _fields(named)
    guid = _element(fields, "guid")
    guid_text = (guid.text or "") if guid is not None else item.get(f"{_RDF}about", "")
    alternates = [href for el in fields.get("atom:link", ()) if (href := _alternate(el))]
    link = _first(fields, "link") or next(iter(alternates), "")
    permalink = guid is not None and guid.get("isPermaLink", "true").lower() != "false"
    if "link" not in fields and not alternates and permalink and web_link(guid_text, ""):
        link = guid_text  # RSS 2.0: a guid is the item's permalink, if it is a web address
    contents = [_rss_field(el, key) for key in _RSS_CONTENT for el in fields.get(key, ())]
    # The first summary in document order wins, as in feedparser; else the content.
    first = next(((key, el) for key, el in named if key in _RSS_SUMMARY), None)
    if first is not None:
        summary = _rss_field(first[1], first[0])
    else:
        summary = contents[0] if contents else ("", None)
    title_key = next((key for key in _RSS_TITLE if key in fields), None)
    return Entry(
        title=_rss_field(fields[title_key][0], title_key) if title_key else ("", None),
        link=link,
        guid=guid_text,
        summary=summary,
        contents=contents,
        categories=_rss_categories(named),
        dates=[el.text or "" for key in _RSS_DATES for el in fields.get(key, ())],
        base=item.base or "",
    )


def _atom(
    root: etree._Element, ns: str, url: str, max_items: int, seen: frozenset[int]
) -> ParsedFeed:
    zone = publisher_zone(root.get(f"{_XML}lang"), url)
    articles, fingerprints = read_items(
        _fingerprinted(islice(root.iterchildren(f"{ns}entry"), max_items), zone),
        functools.partial(_atom_entry, ns=ns),
        zone,
        seen,
    )
    title = root.find(f"{ns}title")
    return ParsedFeed(
        title=as_text(*_atom_text(title)) if title is not None else "",
        articles=articles,
        fingerprints=fingerprints,
    )


def _atom_entry(entry: etree._Element, ns: str) -> Entry:
    # Children grouped by tag in one pass: a find or findall costs ~1.5 us, and ten are asked.
    fields = _fields((child.tag, child) for child in entry)

    def all_of(name: str) -> list[etree._Element]:
        return fields.get(f"{ns}{name}", [])

    contents = [_atom_text(el) for el in all_of("content") if el.get("src") is None]
    summary = _element(fields, f"{ns}summary")
    title = _element(fields, f"{ns}title")
    guid = _element(fields, f"{ns}id")
    return Entry(
        title=_atom_text(title) if title is not None else ("", None),
        link=next((href for el in all_of("link") if (href := _alternate(el))), ""),
        guid=(guid.text or "") if guid is not None else "",
        summary=_atom_text(summary) if summary is not None else next(iter(contents), ("", None)),
        contents=contents,
        categories=[
            (el.get("term") or "") if el.tag == f"{ns}category" else (el.text or "")
            for el in entry.iterchildren(f"{ns}category", f"{_DC}subject")
        ],
        dates=[el.text or "" for name in _ATOM_DATES for el in all_of(name)],
        base=entry.base or "",
    )


def _atom_text(element: etree._Element) -> Text:
    """An Atom text construct: type "text" (the default), "html" or "xhtml"."""
    declared = element.get("type", "text").strip().lower()
    media_type = _ATOM_TYPES.get(declared, declared)
    if media_type == "application/xhtml+xml":
        return _xhtml(element)
    return element.text or "", media_type


def _rss_field(element: etree._Element, key: str) -> Text:
    """A text field of an RSS item with the media type feedparser would give it."""
    if key == "xhtml:body":
        return _xhtml(element)
    if key in _RSS_HTML:
        return element.text or "", "text/html"
    value, media_type = _atom_text(element)  # no type attribute: "text/plain"
    return _rss_text(value) if media_type == "text/plain" else (value, media_type)


def _rss_text(value: str) -> Text:
    """RSS never says whether a field is HTML; feedparser guesses, and so must we."""
    return value, "text/html" if _looks_like_html(value) else "text/plain"


def _looks_like_html(value: str) -> bool:
    return bool(
        _END_TAG_OR_REFERENCE.search(value)
        and all(tag.lower() in _HTML_ELEMENTS for tag in _TAG_NAMES.findall(value))
        and all(name in html.entities.entitydefs for name in _ENTITY_NAMES.findall(value))
    )


def _xhtml(element: etree._Element) -> Text:
    """Inline XHTML as markup, for html_to_text; the wrapping `<div>` adds nothing."""
    markup = (element.text or "") + "".join(
        etree.tostring(child, encoding="unicode", with_tail=True) for child in element
    )
    return markup, "text/html"


def _alternate(link: etree._Element) -> str:
    """The href of an Atom link to the item's page (rel "alternate", the default)."""
    return (link.get("href") or "") if link.get("rel", "alternate") == "alternate" else ""


def _rss_categories(named: Named) -> list[str]:
    """Categories in document order; keyword lists count one category per keyword."""
    categories: list[str] = []
    for name, child in named:
        if name in ("category", "dc:subject"):
            categories.append(child.text or "")
        elif name in ("itunes:keywords", "media:keywords"):
            categories.extend((child.text or "").split(","))
    return categories


def _named(element: etree._Element) -> Named:
    """An element's children that this module reads, in document order, with their names."""
    return [(name, child) for child in element if (name := _name(child.tag)) is not None]


def _fields(named: Iterable[tuple[str, etree._Element]]) -> dict[str, list[etree._Element]]:
    """Children by name (RSS: bare, extensions with their prefix; Atom: the tag), in order."""
    fields: dict[str, list[etree._Element]] = {}
    for name, child in named:
        fields.setdefault(name, []).append(child)
    return fields


@functools.lru_cache(maxsize=1024)  # every item repeats the same few tags
def _name(tag: Any) -> str | None:
    """An element's name as this module spells it, or None for one it never reads."""
    if not isinstance(tag, str):  # comments and processing instructions
        return None
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    if namespace in _CORE:
        return local
    prefix = _PREFIXES.get(namespace)
    return None if prefix is None else prefix + local


def _element(fields: dict[str, list[etree._Element]], key: str) -> etree._Element | None:
    found = fields.get(key)
    return found[0] if found else None


def _first(fields: dict[str, list[etree._Element]], *keys: str) -> str:
    """The text of the first of `keys` present, or ""."""
    for key in keys:
        element = _element(fields, key)
        if element is not None:
            return element.text or ""
    return ""


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _ttl(minutes: str) -> float | None:
    """RSS `<ttl>`: minutes the channel may be cached; nonsense is no hint at all."""
    minutes = minutes.strip()
    return int(minutes) * 60.0 if minutes.isdigit() and 0 < int(minutes) <= 10080 else None


# -- the loose reader ----------------------------------------------------------------------

_ITEM_START = re.compile(r"<(?:[\w-]+:)?(?:item|entry)[\s>/]")
# feedparser's loose parser spends ~50 us on every tag, known or not; past this many a
# document is cut (a 1,000-item feed has ~15,000), so junk cannot cost minutes of CPU.
LOOSE_MAX_TAGS = 20_000
# Its text handling costs about 2 s of CPU per MB of broken markup, so a broken document is
# also cut at this many characters: its newest items (feeds put them first) still come out.
LOOSE_MAX_CHARS = 1_000_000


def read_loose(
    text: str, url: str, max_items: int, seen: frozenset[int] = frozenset()
) -> ParsedFeed:
    """feedparser's reading of any document; never raises."""
    # It reads every item and tag, so the document is cut before the first item past the
    # cap, the first tag past LOOSE_MAX_TAGS or LOOSE_MAX_CHARS; it then recovers the
    # cut-off end like any truncation.
    cut = min(
        nth_start(_ITEM_START, text, max_items),
        nth_start(TAG_START, text, LOOSE_MAX_TAGS),
        LOOSE_MAX_CHARS,
    )
    document = ('<?xml version="1.0" encoding="utf-8"?>' + text[:cut]).encode("utf-8", "replace")
    try:
        # A file object, never bytes or str: given those, feedparser first tries them as a
        # URL to download or a local path to open. No Content-Location either: feedparser
        # would resolve non-URL guids against it; links are resolved in feed.to_articles.
        parsed = feedparser.parse(
            io.BytesIO(document),
            response_headers={"content-type": "application/xml; charset=utf-8"},
        )
    except Exception as exc:  # fuzzing finds ValueError, KeyError, UnicodeDecodeError inside
        return ParsedFeed(title="", articles=[], error=f"could not parse: {exc!r}")
    entries = [_loose_entry(entry, url) for entry in parsed.entries[:max_items]]
    zone = publisher_zone(parsed.feed.get("language"), url)
    articles, fingerprints = read_entries(entries, zone, seen)
    feed = ParsedFeed(
        title=as_text(*_detail(parsed.feed, "title")),
        articles=articles,
        ttl_seconds=_ttl(str(parsed.feed.get("ttl", ""))),
        fingerprints=fingerprints,
    )
    if fingerprints:  # some item makes an Article, seen or not: not `articles`
        return feed
    if not parsed.get("version"):
        return ParsedFeed(title="", articles=[], error=NOT_A_FEED)
    problem = parsed.get("bozo_exception")
    # feedparser also flags harmless things (no Content-Type, a corrected charset); only a
    # real XML error makes an empty feed suspect rather than merely empty.
    if problem is not None and not isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
        return ParsedFeed(title="", articles=[], error=f"malformed feed: {problem}")
    return feed


def _loose_entry(entry: Any, url: str) -> Entry:
    contents = [(part.get("value") or "", part.get("type")) for part in entry.get("content") or []]
    summary = _detail(entry, "summary")
    if summary[1] is None and contents and summary[0] == contents[0][0]:
        summary = contents[0]  # feedparser copied the content into the summary, not its type
    link = entry.get("link") or ""
    if entry.get("guidislink") and link == entry.get("id") and not web_link(link, ""):
        link = ""  # a guid such as "12345" is no link, though RSS calls guids permalinks
    return Entry(
        title=_detail(entry, "title"),
        link=link,
        guid=entry.get("id") or "",
        summary=summary,
        contents=contents,
        categories=[tag.get("term") or "" for tag in entry.get("tags") or []],
        # Plain dict.get: feedparser's own get("updated") answers with "published" (and a
        # DeprecationWarning) when only that one exists.
        dates=[dict.get(entry, key) or "" for key in ("published", "updated")],
        base=url,
    )


def _detail(element: Any, key: str) -> Text:
    """Field `key` of a feedparser entry or feed, with the media type feedparser gave it."""
    detail = element.get(f"{key}_detail") or {}
    return element.get(key) or "", detail.get("type")
