"""Plain text and safe links out of the HTML fragments that feeds and pages carry.

Everything downstream (tag matching, Telegram messages) works on text, never on HTML, and
chat users click the links, so only absolute http(s) links leave this module.
"""

from __future__ import annotations

import html
import itertools
import re
import threading
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

_BLOCK_TAGS = (
    "address|article|aside|blockquote|br|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|header"
    "|hr|li|main|nav|ol|p|pre|section|table|td|th|tr|ul"
)
# A space before every block tag, opening or closing, so that a block boundary separates
# words while an inline tag (<b>, <a>) does not. Done on the source rather than on the
# tree: a regex pass costs a fraction of a CSS query plus one DOM insertion per block.
_BLOCK_BOUNDARY = re.compile(rf"<(?=/?(?:{_BLOCK_TAGS})[\s/>])", re.IGNORECASE)
_CODE = re.compile(r"<(?:script|style)[\s>]", re.IGNORECASE)
TAG_START = re.compile(r"<[^\s<]")  # for nth_start: where each tag (or near-tag) begins
# An absolute http(s) link that urljoin and urlsplit hand back unchanged whatever the base:
# lowercase scheme, a host, no ";params" on the path, no empty "?" or "#", only RFC 3986
# characters (so nothing to strip or to refuse, such as "[" in a host).
_PLAIN_WEB_LINK = re.compile(
    r"https?://[\w.~%!$&'()*+,=:@-]+"
    r"(?:/[\w.~%!$&'()*+,=:@/-]*)?"
    r"(?:\?[\w.~%!$&'()*+,;=:@/?-]+)?"
    r"(?:#[\w.~%!$&'()*+,;=:@/?-]+)?",
    re.ASCII,
)
# Characters of markup a reused document takes before it is replaced: lexbor keeps the nodes
# of replaced fragments until the document goes (~9 bytes per character): 2-5 MB a thread.
SCRATCH_BUDGET = 256 * 1024


class _Scratch(threading.local):
    """One lexbor document per thread, for html_to_text to parse fragments into.

    Creating a document costs ~35 us, parsing a typical feed fragment into a live one ~5 us;
    fragments are parsed as `<html>`'s content, which reads like a document of their own
    (tests/sources/test_text.py compares the two). Documents are not thread-safe, hence one
    per thread.
    """

    document: LexborHTMLParser | None = None
    used = 0

    def take(self, size: int) -> LexborHTMLParser:
        """The thread's document, a new one once the old has taken SCRATCH_BUDGET chars; a
        fragment bigger than that gets a document of its own, freed when it has been read."""
        if size > SCRATCH_BUDGET:
            return LexborHTMLParser("")
        if self.document is None or self.used > SCRATCH_BUDGET:
            self.document, self.used = LexborHTMLParser(""), 0
        self.used += size
        return self.document


_scratch = _Scratch()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    if "<" not in fragment:
        # No markup: only character references to decode, and the stdlib does that with
        # the same HTML5 rules as the parser, ten times faster (2 us against 25 us).
        return collapse(html.unescape(fragment) if "&" in fragment else fragment)
    markup = _BLOCK_BOUNDARY.sub(" <", fragment)
    tree = _scratch.take(len(markup))
    try:
        tree.root.inner_html = markup
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): dropped, as lexbor would
        tree.root.inner_html = markup.encode("utf-8", "ignore").decode("utf-8")
    if _CODE.search(fragment):
        tree.strip_tags(["script", "style"])  # their text is code, not prose
    return collapse(tree.text(separator=""))


def collapse(text: str) -> str:
    """`text` with every run of whitespace (including no-break spaces) made one space."""
    return " ".join(text.split())


def as_text(value: str, media_type: str | None) -> str:
    """A feed text field as plain text: text declared plain (Atom type="text", JSON Feed
    `content_text`) may hold a literal "<" and is not parsed; everything else is HTML."""
    if media_type == "text/plain":
        return collapse(value)
    return html_to_text(value)


def web_link(link: str, base: str) -> str:
    """`link` made absolute against `base`; "" unless it is http(s), because feeds carry
    `javascript:` and `data:` links and chat users click what the bot posts."""
    link = link.strip()
    if _PLAIN_WEB_LINK.fullmatch(link):
        return link  # what _resolved would return, in a tenth of its time
    return _resolved(link, base)


def _resolved(link: str, base: str) -> str:
    """web_link for any link: relative ones, odd schemes and whatever urlsplit refuses."""
    if not link:
        return ""
    try:
        absolute = urljoin(base, link)
        parts = urlsplit(absolute)
    except ValueError:  # e.g. an unclosed "[" IPv6 bracket
        return ""
    return absolute if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def nth_start(pattern: re.Pattern[str], text: str, n: int) -> int:
    """Where the match after the first `n` starts, or the end of `text`: parsers that spend
    time on every tag or item (some quadratically) are given `text[:nth_start(...)]`."""
    match = next(itertools.islice(pattern.finditer(text), n, None), None)
    return len(text) if match is None else match.start()
