"""Tests for apps.delivery.retry.RetryPolicy: exponential backoff with jitter."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.delivery.retry import RetryPolicy


def policy(**overrides: float) -> RetryPolicy:
    values = {"max_attempts": 5, "initial_delay": 1.0, "multiplier": 2.0, "max_delay": 300.0, "jitter": 0.0}
    values.update(overrides)
    return RetryPolicy(**values)  # type: ignore[arg-type]


def test_without_jitter_delays_grow_exponentially_from_the_initial_delay() -> None:
    backoff = policy(max_attempts=12)
    assert [backoff.delay_after(n) for n in range(1, 11)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]


def test_without_jitter_fractional_multiplier_is_exact() -> None:
    backoff = policy(initial_delay=1.0, multiplier=1.5, max_delay=5.0)
    assert [backoff.delay_after(n) for n in range(1, 6)] == [1.0, 1.5, 2.25, 3.375, 5.0]


def test_multiplier_one_keeps_a_constant_delay() -> None:
    backoff = policy(initial_delay=0.2, multiplier=1.0, max_delay=0.2)
    assert [backoff.delay_after(n) for n in range(1, 5)] == [0.2, 0.2, 0.2, 0.2]


def test_zero_initial_delay_retries_at_once() -> None:
    assert [policy(initial_delay=0.0).delay_after(n) for n in range(1, 4)] == [0.0, 0.0, 0.0]


def test_max_delay_caps_late_attempts() -> None:
    backoff = policy(max_attempts=100, initial_delay=1.0, multiplier=2.0, max_delay=60.0)
    assert [backoff.delay_after(n) for n in (6, 7, 8, 50, 99)] == [32.0, 60.0, 60.0, 60.0, 60.0]


def test_max_delay_caps_huge_multipliers_without_overflow() -> None:
    # multiplier has no upper bound in topology.yaml; max_attempts may be 100.
    backoff = policy(max_attempts=100, initial_delay=1.0, multiplier=10_000.0, max_delay=300.0)
    assert backoff.delay_after(2) == 300.0
    assert backoff.delay_after(99) == 300.0


@given(
    attempts=st.integers(min_value=1, max_value=12),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jitter_spreads_the_delay_within_its_fraction(attempts: int, jitter: float, seed: int) -> None:
    backoff = policy(max_attempts=20, initial_delay=0.5, multiplier=2.0, max_delay=10_000.0, jitter=jitter)
    base = 0.5 * 2.0 ** (attempts - 1)
    delay = backoff.delay_after(attempts, rng=random.Random(seed))
    assert max(0.0, base * (1 - jitter)) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9


def test_jitter_spreads_both_ways_and_is_reproducible_with_a_seed() -> None:
    backoff = policy(initial_delay=10.0, jitter=0.2)
    delays = [backoff.delay_after(1, rng=random.Random(seed)) for seed in range(200)]
    assert min(delays) < 10.0 < max(delays)
    assert all(8.0 <= delay <= 12.0 for delay in delays)
    assert backoff.delay_after(1, rng=random.Random(7)) == backoff.delay_after(1, rng=random.Random(7))


@given(
    attempts=st.integers(min_value=1, max_value=100),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jitter_never_makes_a_wait_longer_than_max_delay(attempts: int, jitter: float, seed: int) -> None:
    # max_delay is documented as the longest wait between attempts.
    backoff = policy(max_attempts=100, initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=jitter)
    assert 0.0 <= backoff.delay_after(attempts, rng=random.Random(seed)) <= 5.0


@pytest.mark.parametrize(("attempts_made", "expected"), [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_can_retry_until_max_attempts_were_made(attempts_made: int, expected: bool) -> None:
    assert policy(max_attempts=3).can_retry(attempts_made) is expected


def test_a_single_attempt_is_never_retried() -> None:
    assert policy(max_attempts=1).can_retry(1) is False
