"""Quiet hours, mutes and digest times, across midnight and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.core.schedule import (
    Plan,
    ScheduleError,
    parse_digest,
    parse_quiet,
    parse_timezone,
    release_at,
)


def utc(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_no_settings_means_at_once() -> None:
    assert release_at(Plan(), utc(3, 17), utc(3, 17)) == utc(3, 17)


@pytest.mark.parametrize(
    ("queued", "released"),
    [
        (utc(13, 30), utc(13, 30)),  # 22:30 in Seoul: before the quiet hours
        (utc(14, 0), utc(22, 0)),  # 23:00 in Seoul: held until 07:00 local
        (utc(17, 0), utc(22, 0)),  # 02:00 in Seoul, after midnight
        (utc(21, 59), utc(22, 0)),
        (utc(22, 0), utc(22, 0)),  # 07:00 local: the window has ended
    ],
)
def test_quiet_hours_across_midnight_in_a_time_zone(queued: datetime, released: datetime) -> None:
    plan = Plan(timezone="Asia/Seoul", quiet=(time(23, 0), time(7, 0)))
    assert release_at(plan, queued, queued) == released


def test_quiet_hours_within_one_day() -> None:
    plan = Plan(quiet=(time(12, 0), time(13, 0)))
    assert release_at(plan, utc(12, 30), utc(12, 30)) == utc(13, 0)
    assert release_at(plan, utc(13, 30), utc(13, 30)) == utc(13, 30)


def test_hourly_and_daily_digests() -> None:
    assert release_at(Plan(digest="hourly"), utc(10, 15), utc(10, 15)) == utc(11, 0)
    daily = Plan(timezone="Europe/Berlin", digest="daily", digest_at=time(8, 0))
    assert release_at(daily, utc(6, 0), utc(6, 0)) == utc(
        7, 0
    )  # 08:00 in Berlin is 07:00 UTC in March
    assert release_at(daily, utc(7, 30), utc(7, 30)) == utc(7, 0, day=11)


def test_a_mute_holds_alerts_and_quiet_hours_still_apply_after_it() -> None:
    plan = Plan(muted_until=utc(23, 0), quiet=(time(22, 0), time(6, 0)))
    assert release_at(plan, utc(9, 0), utc(9, 0)) == utc(6, 0, day=11)


def test_daylight_saving_change_is_respected() -> None:
    daily = Plan(timezone="Europe/Berlin", digest="daily", digest_at=time(8, 0))
    # Clocks go forward on 29 March 2026: 08:00 local is 06:00 UTC from then on.
    queued = datetime(2026, 3, 29, 7, 30, tzinfo=UTC)
    assert release_at(daily, queued, queued) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_quiet_hours_and_mutes_are_judged_when_the_alert_would_go_out() -> None:
    """Queued at 22:30 in Seoul, before the quiet hours; still pending at 23:30: held."""
    quiet = Plan(timezone="Asia/Seoul", quiet=(time(23, 0), time(7, 0)))
    assert release_at(quiet, utc(13, 30), utc(14, 30)) == utc(22, 0)
    assert release_at(quiet, utc(13, 30), utc(22, 30)) == utc(22, 30)  # morning: at once
    muted = Plan(muted_until=utc(12, 0))
    assert release_at(muted, utc(9, 0), utc(11, 0)) == utc(12, 0)


def test_a_digest_counts_from_queueing_and_quiet_hours_from_now() -> None:
    hourly = Plan(digest="hourly", quiet=(time(23, 0), time(7, 0)))
    assert release_at(hourly, utc(10, 15), utc(10, 30)) == utc(11, 0)  # the next hour
    assert release_at(hourly, utc(10, 15), utc(11, 30)) == utc(11, 30)  # overdue: at once
    assert release_at(hourly, utc(21, 15), utc(23, 30)) == utc(7, 0, day=11)  # quiet now
    daily = Plan(digest="daily", digest_at=time(8, 0))
    assert release_at(daily, utc(7, 0), utc(7, 30)) == utc(8, 0)


def test_parsing_and_clear_errors() -> None:
    assert parse_quiet("23:00-07:00") == (time(23, 0), time(7, 0))
    assert parse_quiet("off") is None
    assert parse_digest("daily 08:30") == ("daily", time(8, 30))
    assert parse_digest("hourly") == ("hourly", None)
    assert parse_timezone("Asia/Seoul") == "Asia/Seoul"
    assert parse_timezone("utc") == "UTC"
    for bad, call in [
        ("25:00-07:00", parse_quiet),
        ("07:00-07:00", parse_quiet),
        ("weekly", parse_digest),
        ("Mars/Olympus", parse_timezone),
        ("../../etc/passwd", parse_timezone),
    ]:
        with pytest.raises(ScheduleError):
            call(bad)
