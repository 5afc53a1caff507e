"""The pacer's overall rate: evenly spaced sends, late ones made up, no second over the cap."""

from __future__ import annotations

import asyncio
import bisect
import time

from bot.delivery.limits import Limits, Pacer


async def test_no_second_holds_more_than_the_rate_and_one_send() -> None:
    """A late send lets the next go a little early, never so early that sends bunch up."""
    pacer = Pacer(Limits(per_chat_interval=0, per_group_interval=0, global_per_second=40))
    times: list[float] = []
    for n in range(60):
        await pacer.start_send(n)
        times.append(time.monotonic())
        if n % 7 == 0:
            await asyncio.sleep(0.04)  # the loop was busy: this send's successor is late
    in_any_second = max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    assert in_any_second <= 40 + 1
