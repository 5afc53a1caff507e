"""parse_date: every common way feeds and pages write a date, as aware UTC, or None."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone

import pytest
from dateutil import parser as dateutil_parser
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources import dates
from bot.sources.dates import parse_date, publisher_zone

KST = timezone(timedelta(hours=9))
NOON_UTC = datetime(2025, 4, 16, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "Wed, 16 Apr 2025 12:00:00 +0000",  # RFC 822
        "Wed, 16 Apr 2025 12:00:00 GMT",
        "Wed, 16 Apr 2025 12:00:00 Z",
        "16 Apr 2025 12:00:00 GMT",  # no weekday
        "Wed, 16 Apr 25 12:00:00 GMT",  # two-digit year
        "Wed,16 Apr 2025 21:00:00+0900",
        "Wed, 16 Apr 2025 21:00:00 KST",  # a zone name RFC 822 does not know
        "Wed, 16 Apr 2025 08:00:00 EDT",
        "Wednesday, 16-Apr-2025 12:00:00 GMT",  # RFC 850
        "Wed Apr 16 21:00:00 +0900 2025",  # ctime-like
        "2025-04-16T12:00:00Z",  # ISO 8601 / RFC 3339
        "2025-04-16T21:00:00+09:00",
        "2025-04-16T21:00:00+0900",
        "2025-04-16 12:00:00",  # no zone: the default zone (UTC here)
        "20250416T120000Z",
        "2025-04-16T12:00:00.000Z",
        "April 16, 2025 12:00 pm",
        "  Wed, 16 Apr 2025\n 12:00:00 GMT ",
    ],
)
def test_common_formats(text: str) -> None:
    assert parse_date(text) == NOON_UTC


@pytest.mark.parametrize(
    "text",
    [
        "2025.04.16 21:00",
        "2025.04.16. 21:00",
        "2025-04-16 21:00",
        "2025/04/16 21:00:00",
        "2025.04.16(수) 21:00",
        "2025년 4월 16일 오후 9:00",
        "2025년 04월 16일 21시 00분",
        "2025.04.16 오후 9:00",
        "2025-04-16 09:00 PM",
    ],
)
def test_korean_forms_without_a_zone_in_korean_time(text: str) -> None:
    assert parse_date(text, KST) == NOON_UTC


def test_midnight_and_noon_in_twelve_hour_forms() -> None:
    assert parse_date("2025.04.16 오전 12:05") == datetime(2025, 4, 16, 0, 5, tzinfo=UTC)
    assert parse_date("2025.04.16 오후 12:05") == datetime(2025, 4, 16, 12, 5, tzinfo=UTC)


def test_unknown_zone_name_means_the_default_zone_not_utc() -> None:
    assert parse_date("Wed, 16 Apr 2025 21:00:00 XYZ", KST) == NOON_UTC


def test_date_only_is_midnight_in_the_zone() -> None:
    assert parse_date("2025-04-16", KST) == datetime(2025, 4, 15, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "soon",
        "어제",
        "5 days ago",
        "10:30",  # no date at all: not today's date
        "Monday",
        "12345",
        "2025-02-30",
        "Wed, 31 Feb 2025 12:00:00 GMT",
        "2025-04-16 25:00",
        "1970-01-01T00:00:00Z",  # the epoch: a placeholder, not news
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
        "x" * 500,
    ],
)
def test_unreadable_or_placeholder_dates_are_none(text: str | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_date(text) is None


@pytest.mark.parametrize(
    ("language", "url", "zone"),
    [
        ("ko", "https://example.com/", KST),
        ("ko-KR", "https://example.com/", KST),
        ("ja", "https://example.com/", KST),
        ("zh-cn", "https://example.com/", timezone(timedelta(hours=8))),
        (None, "https://www.yna.co.kr/rss", KST),
        ("", "https://news.example.jp/feed", KST),
        ("en", "https://www.koreaherald.com/rss", UTC),
        (None, "not a url [", UTC),
    ],
)
def test_publisher_zone(language: str | None, url: str, zone: timezone) -> None:
    assert publisher_zone(language, url) == zone


@given(st.text(max_size=100))
def test_never_raises_and_is_utc_when_it_answers(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moment = parse_date(text)
    assert moment is None or moment.tzinfo == UTC


# -- the RFC 1123 shortcut -------------------------------------------------------------------
# Most RSS dates are read by one regex (dates._rfc1123) rather than by email.utils; both ways
# must give the same moment, or the same story would change its date between polls.


@pytest.mark.parametrize(
    "text",
    [
        "Wed, 16 Apr 2025 12:00:00 GMT",
        "Wed, 16 Apr 2025 12:00:00 UTC",
        "Wed, 16 Apr 2025 21:00:00 +0900",
        "Tue, 15 Apr 2025 22:30:00 -1330",
        "Sun, 29 Feb 2032 00:00:00 +0530",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ],
)
def test_rfc1123_shortcut_agrees_with_dateutil(text: str) -> None:
    shortcut = dates._rfc1123(text)

    assert shortcut is not None
    assert shortcut == dateutil_parser.parse(text).astimezone(UTC)


@pytest.mark.parametrize(
    "text",
    [
        "Wed, 16 Apr 2025 12:00:00 -0000",  # no zone at all: the feed's zone, so the long way
        "Wed, 16 Apr 2025 12:00:00 KST",
        "Wed, 16 Apr 25 12:00:00 GMT",
        "Wed, 31 Feb 2025 12:00:00 GMT",
        "Wed, 16 Apr 2025 24:00:00 GMT",
        "wed, 16 apr 2025 12:00:00 gmt",
    ],
)
def test_rfc1123_shortcut_leaves_other_forms_to_the_long_way(text: str) -> None:
    assert dates._rfc1123(text) is None


def two_digits(low: int, high: int, wrong: int) -> st.SearchStrategy[str]:
    """Mostly from `low` to `high`, sometimes from 0 to `wrong` (out of range)."""
    return (st.integers(low, high) | st.integers(0, wrong)).map("{:02d}".format)


rfc1123_like = st.builds(
    "{}, {} {} {} {}:{}:{} {}".format,
    st.sampled_from(["Mon", "Wed", "Sun", "Xyz", "wed"]),
    two_digits(1, 28, 39) | st.sampled_from(["1", "6"]),
    st.sampled_from([*dates._MONTHS, "apr", "Foo"]),
    (st.integers(1990, 2100) | st.integers(0, 2999)).map("{:04d}".format)
    | st.sampled_from(["25", "99"]),
    two_digits(0, 23, 29),
    two_digits(0, 59, 69),
    two_digits(0, 59, 69),
    st.sampled_from(["GMT", "UTC", "UT", "Z", "EST", "KST", "pm"])
    | st.builds("{}{}{}".format, st.sampled_from("+-"), two_digits(0, 14, 29), two_digits(0, 0, 99))
    | st.sampled_from(["+0000", "-0000"]),
)


@settings(max_examples=300)
@given(rfc1123_like, st.sampled_from([UTC, KST]))
def test_rfc1123_shortcut_gives_what_the_long_way_gives(text: str, zone: timezone) -> None:
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore")  # dateutil's, on the long way
        shortcut = parse_date(text, zone)
        patch.setattr(dates, "_rfc1123", lambda text: None)
        assert shortcut == parse_date(text, zone)


ISO_PARTS = (
    ["2025-04-16", "20250416", "2025-W16-3"],
    ["T", " "],
    ["12:00", "12:00:00", "12:00:00.5", "120000"],
    ["", "Z", "+09:00", "+0900"],
)
ODD_PARTS = (
    ["2025-04", "16-Apr-2025", "Wed, 16"],
    ["t", "x", ", ", ""],
    ["12", "", "Apr 2025 12:00:00"],
    ["-0000", " GMT", " +0000", " 2025", "(KST)"],
)
iso_8601 = st.builds("{}{}{}{}".format, *map(st.sampled_from, ISO_PARTS))
iso_like = st.builds(
    "{}{}{}{}".format, *(st.sampled_from(a + b) for a, b in zip(ISO_PARTS, ODD_PARTS, strict=True))
)


@given(iso_8601 | iso_like | rfc1123_like | st.text(max_size=40))
def test_no_text_reads_both_as_iso_8601_and_as_rfc_822(text: str) -> None:
    """_any_form tries ISO 8601 first, which is only right while the two never both answer."""
    assert dates._iso(text) is None or dates._rfc822(text) is None
