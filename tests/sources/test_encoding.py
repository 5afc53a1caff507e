"""decode: the bytes' real encoding, whatever the server and the document claim.

Guessing an undeclared legacy encoding needs some text: a single short Japanese title in
EUC-JP was measured misread as Shift_JIS, so the samples are a title and a sentence.
"""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sources.encoding import decode

KOREAN = (
    "<rss><channel><title>한국국방연구원, 나토 국방비 증액은 "
    "방산 수출의 기회</title></channel></rss>"
)
JAPANESE = (
    "<rss><channel><title>北朝鮮が弾道ミサイルを発射、防衛省が発表</title>"
    "<description>韓国国防研究院は、防衛費の増額が輸出の好機になると分析した。</description>"
    "</channel></rss>"
)
FRENCH = (
    "<rss><channel><title>Élection : le résultat définitif — « analyse »</title></channel></rss>"
)


def xml(text: str, encoding: str | None) -> str:
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else ""
    return declaration + text


@pytest.mark.parametrize(
    ("text", "codec", "declared", "http"),
    [
        (KOREAN, "euc_kr", None, None),  # no declaration anywhere
        (KOREAN, "cp949", "euc-kr", None),  # EUC-KR declared, CP949 only syllables
        (KOREAN, "euc_kr", "utf-8", None),  # wrong declaration
        (KOREAN, "euc_kr", None, "text/xml; charset=utf-8"),  # wrong HTTP charset
        (KOREAN, "utf-8", "euc-kr", None),  # UTF-8 declared EUC-KR
        (KOREAN, "utf-8", None, "text/xml; charset=ks_c_5601-1987"),
        (JAPANESE, "shift_jis", None, None),
        (JAPANESE, "euc_jp", None, None),
        (FRENCH, "cp1252", "utf-8", None),  # windows-1252 declared as utf-8
        (FRENCH, "cp1252", None, "text/xml; charset=ISO-8859-1"),
        (FRENCH, "utf-8", None, "text/xml; charset=ISO-8859-1"),  # the commonest lie
    ],
)
def test_real_encoding_wins(text: str, codec: str, declared: str | None, http: str | None) -> None:
    document = xml(text, declared)

    assert decode(document.encode(codec), http).text == document


def test_declared_encoding_is_believed_when_it_decodes() -> None:
    document = xml(KOREAN, "euc-kr")

    assert decode(document.encode("euc_kr")).encoding == "cp949"  # read as the superset


def test_http_charset_is_believed_when_it_decodes() -> None:
    text = "<rss><channel><title>Prix : 5 € le café</title></channel></rss>"

    decoded = decode(text.encode("iso8859_15"), "text/xml; charset=iso-8859-15")

    assert (decoded.text, decoded.encoding) == (text, "iso8859_15")  # € is 0xA4 only there


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_byte_order_mark_wins_over_any_declaration(bom: bytes, codec: str) -> None:
    document = xml(KOREAN, "euc-kr")

    assert decode(bom + document.encode(codec), "text/xml; charset=latin-1").text == document


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark(codec: str) -> None:
    document = xml(KOREAN, "utf-16")

    assert decode(document.encode(codec)).text == document


def test_mostly_utf8_with_a_stray_byte_stays_utf8() -> None:
    data = KOREAN.encode() + b"\xff" + KOREAN.encode()

    decoded = decode(data)

    assert decoded.encoding == "utf-8"
    assert decoded.text == KOREAN + "\ufffd" + KOREAN


def test_html_meta_charset_is_read() -> None:
    page = f'<html><head><meta charset="euc-kr"></head><body>{KOREAN}</body></html>'

    assert decode(page.encode("euc_kr")).text == page


@given(st.binary(max_size=2048), st.sampled_from([None, "text/xml; charset=nonsense", "a/b"]))
def test_never_raises(data: bytes, content_type: str | None) -> None:
    assert isinstance(decode(data, content_type).text, str)
