"""When to poll a source next: the operator's interval, the server's hints, and backoff.

Pure arithmetic, so the scheduler stays simple and the policy is tested without clocks.
"""

from __future__ import annotations

import random

MAX_DELAY = 6 * 3600.0  # a dead source is still tried four times a day


def next_poll_delay(
    base_interval: float,
    *,
    failures: int = 0,
    retry_after: float | None = None,
    max_age: float | None = None,
    ttl: float | None = None,
    rng: random.Random | None = None,
    cap: float = MAX_DELAY,
) -> float:
    """Seconds until the next poll of a source.

    - A healthy source (`failures == 0`) is polled every `base_interval`, or later when the
      server says its answer stays fresh longer (Cache-Control `max-age`, RSS `<ttl>`):
      polling sooner would only fetch the same document again.
    - After `failures` failures in a row the wait doubles each time, from `base_interval`,
      with "equal jitter" (a uniformly random half is added to half the wait) so that
      sources failing together (one host down) do not come back in lockstep.
    - `retry_after` (from Retry-After, on a 429 or 503) is a floor: the server asked.
    - Nothing waits longer than `cap`, so even a server asking for a week is retried.
    """
    delay = max([base_interval, *(hint for hint in (max_age, ttl) if hint is not None)])
    if failures > 0:
        backoff = min(cap, base_interval * 2.0 ** min(failures, 32))
        delay = backoff / 2 + (rng or random).uniform(0, backoff / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, cap))
