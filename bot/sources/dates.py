"""Dates as feeds and pages write them, read into aware UTC datetimes.

Feeds promise RFC 822 or ISO 8601 and deliver much else: named zones ("KST"), no zone at
all, Korean forms ("2025.04.16 09:30", "2025년 4월 16일 오후 3:20"). A date that cannot be
read is None, never an exception: an undated article is still news.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from dateutil import parser as dateutil_parser

from bot.sources.text import collapse

MAX_DATE_LENGTH = 80
# Outside these years a feed date is a placeholder (the Unix epoch, 9999-12-31), not news.
EARLIEST_YEAR, LATEST_YEAR = 1990, 2100

# Zone names RFC 822 does not know but feeds use; US names are RFC 822's own meaning.
_ZONE_HOURS = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
    "BST": 1, "CET": 1, "WEST": 1, "CEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "ICT": 7, "WIB": 7, "HKT": 8, "SGT": 8, "PHT": 8, "AWST": 8,
    "KST": 9, "JST": 9, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip
_ZONES = {name: timezone(timedelta(hours=hours)) for name, hours in _ZONE_HOURS.items()}
_TRAILING_ZONE = re.compile(r"^(?P<head>.*\d)\s*\(?(?P<zone>[A-Za-z]{1,5})\)?$")
_MERIDIEM = {"am": "am", "pm": "pm", "오전": "am", "오후": "pm"}
# Year first, with dots, dashes, slashes or Korean unit words, an optional weekday in
# brackets, an optional time with 오전/오후 or AM/PM before or after it.
_NUMERIC = re.compile(
    r"(?P<y>\d{4})\s*[./\-년]\s*(?P<m>\d{1,2})\s*[./\-월]\s*(?P<d>\d{1,2})\s*일?\.?"
    r"(?:\s*\([^)]{0,12}\))?\s*(?P<ampm1>오전|오후|am|pm)?\s*"
    r"(?:(?P<H>\d{1,2})\s*[:시]\s*(?P<M>\d{1,2})\s*분?(?:\s*:?\s*(?P<S>\d{1,2})\s*초?)?)?"
    r"\s*(?P<ampm2>오전|오후|am|pm)?",
    re.IGNORECASE,
)
# The RFC 1123 form, read by _rfc1123 without email.utils; month names as RFC 822 spells
# them (calendar.month_abbr would follow the locale).
_MONTHS = {
    **{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6},
    **{"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12},
}
_RFC1123 = re.compile(
    rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-3]\d) ({'|'.join(_MONTHS)}) ([12]\d{{3}})"
    r" ([0-2]\d):([0-5]\d):([0-5]\d) (?:GMT|UTC?|([+-])([01]\d)([0-5]\d))"
)
_HAS_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
# Naive times are local to the publisher; these languages and country domains name one zone.
_KOREA_JAPAN = timezone(timedelta(hours=9))
_CHINA = timezone(timedelta(hours=8))
_LANGUAGE_ZONES = {"ko": _KOREA_JAPAN, "ja": _KOREA_JAPAN, "zh": _CHINA}
_DOMAIN_ZONES = {"kr": _KOREA_JAPAN, "jp": _KOREA_JAPAN, "cn": _CHINA, "hk": _CHINA, "tw": _CHINA}


def parse_date(value: str | None, zone: tzinfo = UTC) -> datetime | None:
    """`value` as aware UTC, or None; a time without a zone is taken to be in `zone`."""
    text = collapse(value or "")
    if not text or len(text) > MAX_DATE_LENGTH:
        return None
    moment = _rfc1123(text) or _any_form(text, zone)
    if moment is None:
        return None
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 minus an offset
        return None
    return moment if EARLIEST_YEAR <= moment.year <= LATEST_YEAR else None


def publisher_zone(language: str | None, url: str) -> tzinfo:
    """The zone a publisher's naive times are in: from its language, else its country
    domain, else UTC. Korean sites write "2025.04.16 09:30" and mean KST."""
    zone = _LANGUAGE_ZONES.get((language or "").strip().lower()[:2])
    if zone is None:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        zone = _DOMAIN_ZONES.get(host.rsplit(".", 1)[-1])
    return zone or UTC


def _rfc1123(text: str) -> datetime | None:
    """The form most RSS feeds write, "Wed, 16 Apr 2025 12:00:00 GMT" or "+0900", read by one
    regex in a quarter of the time _any_form takes; None leaves anything else to that."""
    match = _RFC1123.fullmatch(text)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    if sign == "-" and zone_hours == zone_minutes == "00":
        return None  # "-0000" says the zone is unknown: _any_form gives it the feed's zone
    try:
        moment = datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:  # "31 Feb", "24:00:00"
        return None
    if sign is None:
        return moment
    offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
    return moment - offset if sign == "+" else moment + offset


def _any_form(text: str, zone: tzinfo) -> datetime | None:
    """A date in any form this module knows; a naive one is in its zone name, else `zone`."""
    text, named = _split_zone_name(text)
    # ISO 8601 first: it is quick to refuse, and no text is both it and RFC 822 (one has at
    # most two words, the other at least three), so the order changes no answer.
    moment = _iso(text) or _rfc822(text) or _numeric(text) or _dateutil(text)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=named or zone)
    return moment


def _split_zone_name(text: str) -> tuple[str, tzinfo | None]:
    """Cut a trailing zone name off; a known one becomes its offset, an unknown one is dropped
    (the time is then naive) rather than read as UTC, as `email.utils` would."""
    if text[-1].isdigit():  # "+0900", ISO 8601: no name to cut, and no regex to run
        return text, None
    match = _TRAILING_ZONE.match(text)
    if match is None or match["zone"].lower() in _MERIDIEM:
        return text, None
    return match["head"], _ZONES.get(match["zone"].upper())


def _rfc822(text: str) -> datetime | None:
    """RFC 822/2822/5322 and their variants; naive when the zone is missing or "-0000"."""
    try:
        return parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _numeric(text: str) -> datetime | None:
    match = _NUMERIC.fullmatch(text)
    if match is None:
        return None
    hour = int(match["H"] or 0)
    meridiem = _MERIDIEM.get((match["ampm1"] or match["ampm2"] or "").lower())
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    try:
        day = datetime(int(match["y"]), int(match["m"]), int(match["d"]))
        return day.replace(hour=hour, minute=int(match["M"] or 0), second=int(match["S"] or 0))
    except ValueError:
        return None


def _dateutil(text: str) -> datetime | None:
    """The last resort, for month names and day-first forms; it fills missing parts from a
    default date, so a text with no year ("10:30", "Monday") is not given to it."""
    if not _HAS_YEAR.search(text):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UnknownTimezoneWarning for zone names it skips
        try:
            return dateutil_parser.parse(text, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError, TypeError):  # ParserError is a ValueError
            return None
