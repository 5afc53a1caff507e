"""next_poll_delay: the operator's interval, the server's hints, backoff with jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sources.backoff import MAX_DELAY, next_poll_delay

BASE = 600.0


def test_a_healthy_source_is_polled_every_interval() -> None:
    assert next_poll_delay(BASE) == BASE


@pytest.mark.parametrize(
    ("max_age", "ttl", "expected"),
    [
        (1800.0, None, 1800.0),
        (None, 3600.0, 3600.0),
        (1800.0, 3600.0, 3600.0),
        (60.0, 120.0, BASE),  # a hint shorter than the interval does not poll faster
        (0.0, None, BASE),
        (30 * 24 * 3600.0, None, MAX_DELAY),
    ],
)
def test_freshness_hints_push_the_next_poll_back(
    max_age: float | None, ttl: float | None, expected: float
) -> None:
    assert next_poll_delay(BASE, max_age=max_age, ttl=ttl) == expected


@pytest.mark.parametrize("failures", [1, 2, 3, 4])
def test_backoff_doubles_within_a_jittered_band(failures: int) -> None:
    backoff = BASE * 2**failures
    delays = [
        next_poll_delay(BASE, failures=failures, rng=random.Random(seed)) for seed in range(200)
    ]

    assert all(backoff / 2 <= delay <= backoff for delay in delays)
    assert len(set(delays)) > 150  # jittered: sources failing together spread out


def test_backoff_is_capped_however_many_failures() -> None:
    rng = random.Random(1)

    assert next_poll_delay(BASE, failures=10_000, rng=rng) <= MAX_DELAY
    assert next_poll_delay(BASE, failures=50, rng=rng, cap=3600.0) <= 3600.0


def test_freshness_hints_do_not_apply_to_a_failing_source() -> None:
    delay = next_poll_delay(BASE, failures=1, max_age=5 * 3600.0, rng=random.Random(3))

    assert delay <= 2 * BASE


@pytest.mark.parametrize("failures", [0, 1, 3])
def test_retry_after_is_a_floor(failures: int) -> None:
    delay = next_poll_delay(BASE, failures=failures, retry_after=7200.0, rng=random.Random(0))

    assert delay >= 7200.0


def test_retry_after_beyond_the_cap_is_capped() -> None:
    assert next_poll_delay(BASE, failures=1, retry_after=7 * 24 * 3600.0) == MAX_DELAY


@given(
    base=st.floats(0, 86400),
    failures=st.integers(0, 10**6),
    retry_after=st.none() | st.floats(0, 10**9),
    max_age=st.none() | st.floats(0, 10**9),
    ttl=st.none() | st.floats(0, 10**9),
    seed=st.integers(),
)
def test_delay_is_always_between_zero_and_the_cap(
    base: float,
    failures: int,
    retry_after: float | None,
    max_age: float | None,
    ttl: float | None,
    seed: int,
) -> None:
    delay = next_poll_delay(
        base,
        failures=failures,
        retry_after=retry_after,
        max_age=max_age,
        ttl=ttl,
        rng=random.Random(seed),
    )

    assert 0.0 <= delay <= MAX_DELAY
