"""Read and write OPML, the subscription-list format every feed reader imports and exports.

Users bring their reader's export; the bot ships a catalogue of known news feeds in the same
format. Files come from strangers, so parsing goes through defusedxml.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

CATALOGUE = "catalogue.opml"


@dataclass(frozen=True)
class OpmlSource:
    """One feed from an OPML file; `topic` is its category or the folder it sits in."""

    url: str
    title: str
    language: str | None = None
    topic: str | None = None
    html_url: str | None = None


def read_opml(data: bytes | str | Path) -> list[OpmlSource]:
    """Every `<outline xmlUrl=...>` in document order, at any depth.

    `data` is the document itself (bytes or str) or a Path to read it from. Raises ValueError
    naming the source when the document is not well-formed OPML or lists no feeds.
    """
    name = str(data) if isinstance(data, Path) else "the OPML document"
    try:
        raw = data.read_bytes() if isinstance(data, Path) else data
        root = SafeET.fromstring(raw)
    except OSError as exc:
        raise ValueError(f"{name} could not be read: {exc.strerror or exc}") from exc
    except (ET.ParseError, DefusedXmlException, LookupError) as exc:  # LookupError: encoding
        raise ValueError(f"{name} is not valid OPML: {exc}") from exc
    if root.tag != "opml":
        raise ValueError(f"{name} is not OPML: its root element is <{root.tag}>, not <opml>")
    body = root.find("body")
    sources = _feeds(body) if body is not None else []
    if not sources:
        raise ValueError(f"{name} lists no feeds (no <outline> has an xmlUrl attribute)")
    return sources


def _feeds(body: ET.Element) -> list[OpmlSource]:
    """Depth-first, in document order; a loop, not recursion, so deep nesting cannot crash it."""
    sources: list[OpmlSource] = []
    stack: list[tuple[ET.Element, str | None]] = [
        (outline, None) for outline in reversed(body.findall("outline"))
    ]
    while stack:
        outline, folder = stack.pop()
        label = _attr(outline, "title") or _attr(outline, "text")
        url = _attr(outline, "xmlUrl")
        if url:
            sources.append(
                OpmlSource(
                    url=url,
                    title=label or url,
                    language=_attr(outline, "language"),
                    topic=_category(outline) or folder,
                    html_url=_attr(outline, "htmlUrl"),
                )
            )
        inner = _attr(outline, "text") or label or folder
        stack.extend((child, inner) for child in reversed(outline.findall("outline")))
    return sources


def _attr(outline: ET.Element, name: str) -> str | None:
    return (outline.get(name) or "").strip() or None


def _category(outline: ET.Element) -> str | None:
    """OPML 2.0 `category` is a comma-separated list of slash paths ("/News/World"); the
    first one's last step names the topic, so a plain "defence" works as well."""
    first = (outline.get("category") or "").split(",")[0]
    return first.strip().strip("/").rsplit("/", 1)[-1].strip() or None


def write_opml(sources: Iterable[OpmlSource], title: str = "newsbot sources") -> str:
    """An OPML 2.0 document with the feeds grouped in one folder per topic (first-seen order)."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for source in sources:
        parent = body
        if source.topic:
            if source.topic not in folders:
                folders[source.topic] = ET.SubElement(
                    body, "outline", text=source.topic, title=source.topic
                )
            parent = folders[source.topic]
        ET.SubElement(parent, "outline", _outline_attributes(source))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _outline_attributes(source: OpmlSource) -> dict[str, str]:
    attributes = {"type": "rss", "text": source.title, "title": source.title, "xmlUrl": source.url}
    optional = {
        "htmlUrl": source.html_url,
        "language": source.language,
        "category": source.topic,
    }
    attributes.update({name: value for name, value in optional.items() if value})
    return attributes


def bundled_catalogue() -> Path:
    """The catalogue of known news feeds shipped inside the package (as package data)."""
    return Path(str(files(__package__).joinpath(CATALOGUE)))
