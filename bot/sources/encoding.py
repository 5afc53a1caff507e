"""Decode fetched bytes to text, whatever the server and the document claim.

Korean sites serve EUC-KR or CP949 with no declaration or a wrong one, others declare
utf-8 and send windows-1252. The order, and why:

1. a byte order mark is never wrong;
2. bytes that are valid UTF-8 and not plain ASCII are UTF-8: legacy text almost never is
   by accident, so this overrules a declaration (the commonest lie is "ISO-8859-1");
3. the HTTP charset, then the document's own declaration, each only if it decodes cleanly,
   with the WHATWG readings of legacy labels (EUC-KR means CP949, ISO-8859-1 windows-1252);
4. text that is UTF-8 but for a few stray bytes stays UTF-8, the strays replaced;
5. charset-normalizer's guess (measured right on EUC-KR, CP949, Shift_JIS, EUC-JP,
   GB18030 and windows-1252 feeds where a blind CP949 retry only gets Korean right);
6. windows-1252 with replacement, which at worst garbles a few letters.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with that one's
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" in UTF-16 without a byte order mark (XML 1.0 appendix F).
_UTF16_NO_BOM = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([\w.:-]{1,40})[\"']")
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?([\w.:-]{1,40})", re.IGNORECASE)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]{1,40})", re.IGNORECASE)
_PRESCAN = 4096  # how far into a page to look for <meta charset>, as browsers do
# Python codec name -> the superset that browsers (WHATWG Encoding) decode the label as.
_SUPERSETS = {
    "euc_kr": "cp949",
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
}
_MOSTLY_UTF8 = 20  # at least this many good non-ASCII characters per replaced byte


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the Python codec that produced `text`


def decode(content: bytes, content_type: str | None = None) -> Decoded:
    """`content` as text; never raises. `content_type` is the HTTP header, if any."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return Decoded(content[len(bom) :].decode(encoding, "replace"), encoding)
    for start, encoding in _UTF16_NO_BOM:
        if content.startswith(start):
            return Decoded(content.decode(encoding, "replace"), encoding)
    if content.isascii():
        return Decoded(content.decode("ascii"), "ascii")
    try:
        return Decoded(content.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    for label in (_http_charset(content_type), _declared_charset(content)):
        encoding = _codec(label)
        if encoding is not None:
            try:
                return Decoded(content.decode(encoding), encoding)
            except UnicodeDecodeError:
                continue
    lenient = content.decode("utf-8", "replace")
    replaced = lenient.count("\ufffd")
    non_ascii = len(lenient) - len(lenient.encode("ascii", "ignore"))
    if non_ascii - replaced >= _MOSTLY_UTF8 * replaced:
        return Decoded(lenient, "utf-8")
    guess = from_bytes(content).best()
    if guess is not None and guess.encoding:
        return Decoded(str(guess), guess.encoding)
    return Decoded(content.decode("cp1252", "replace"), "cp1252")


def _http_charset(content_type: str | None) -> str | None:
    match = _HTTP_CHARSET.search(content_type or "")
    return match[1] if match else None


def _declared_charset(content: bytes) -> str | None:
    """The XML declaration's encoding, else a `<meta charset>` near the top of a page."""
    match = _XML_DECLARATION.match(content) or _META_CHARSET.search(content, 0, _PRESCAN)
    return match[1].decode("ascii") if match else None


def _codec(label: str | None) -> str | None:
    """The Python codec for a charset label, widened to what browsers mean by it."""
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    name = name.replace("-", "_")
    return _SUPERSETS.get(name, name)
