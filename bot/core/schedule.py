"""When a chat wants its alerts: at once, after quiet hours, after a mute, or as a digest.

Pure functions of the chat's settings and the clock, so time zones and midnight crossings
are tested with plain values. Held alerts are never dropped, only released later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DIGEST_MODES = ("off", "hourly", "daily")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """A setting the chat typed cannot be used; the message says how to write it."""


@dataclass(frozen=True)
class Plan:
    """A chat's delivery settings. `quiet` is (start, end) local time; it may cross midnight."""

    timezone: str = "UTC"
    quiet: tuple[time, time] | None = None
    digest: str = "off"
    digest_at: time = time(8, 0)
    muted_until: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_time(text: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise ScheduleError(f"“{text.strip()}” is not a time; write it as HH:MM, e.g. 07:30.")
    return time(int(match[1]), int(match[2]))


def parse_quiet(text: str) -> tuple[time, time] | None:
    """'23:00-07:00' -> the window; 'off' -> None."""
    if text.strip().lower() == "off":
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise ScheduleError("Write quiet hours as HH:MM-HH:MM, e.g. /quiet 23:00-07:00, or off.")
    window = parse_time(start), parse_time(end)
    if window[0] == window[1]:
        raise ScheduleError("Quiet hours need a start and an end that differ.")
    return window


def parse_timezone(text: str) -> str:
    """An IANA zone name ("Asia/Seoul"), or UTC."""
    name = text.strip()
    if name.upper() == "UTC":
        return "UTC"
    try:
        if "/" not in name:
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"“{name}” is not a time zone I know; use Area/City, e.g. Asia/Seoul or Europe/Berlin."
        ) from None
    return name


def parse_digest(text: str) -> tuple[str, time | None]:
    """'off' | 'hourly' | 'daily HH:MM' -> (mode, time for daily)."""
    words = text.split()
    mode = words[0].lower() if words else ""
    if mode in ("off", "hourly") and len(words) == 1:
        return mode, None
    if mode == "daily" and len(words) == 2:
        return mode, parse_time(words[1])
    raise ScheduleError("Write it as /digest off, /digest hourly or /digest daily 08:00.")


def release_at(plan: Plan, queued_at: datetime, now: datetime) -> datetime:
    """The earliest moment, as seen at `now`, an alert queued at `queued_at` may be sent.

    A digest's time counts from when the alert was queued; a mute and quiet hours apply to
    when it would go out, never before `now`: an alert queued in the evening that is still
    pending at night (a backlog, a retry) waits for the morning too. UTC, aware.
    """
    moment = max(_digest_time(plan, queued_at), now)
    if plan.muted_until and moment < plan.muted_until:
        moment = plan.muted_until
    return _after_quiet(moment, plan)


def _digest_time(plan: Plan, queued_at: datetime) -> datetime:
    """When the digest that takes an alert queued at `queued_at` is due (then, if none)."""
    if plan.digest == "hourly":
        return (queued_at + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    if plan.digest == "daily":
        return _next_local(queued_at, plan.digest_at, plan.zone)
    return queued_at


def is_digest(plan: Plan) -> bool:
    return plan.digest != "off"


def _after_quiet(moment: datetime, plan: Plan) -> datetime:
    """`moment`, or the end of the quiet window it falls in."""
    if plan.quiet is None:
        return moment
    start, end = plan.quiet
    local = moment.astimezone(plan.zone)
    now = local.time()
    inside = start <= now < end if start < end else now >= start or now < end
    return _next_local(moment, end, plan.zone) if inside else moment


def _next_local(moment: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first instant after `moment` when the local clock in `zone` shows `at`."""
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)
