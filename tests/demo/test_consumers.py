"""Tests for apps.demo.consumers.simulated_failure: failures on request, by attempt."""

import pytest

from apps.demo.consumers import simulated_failure


@pytest.mark.parametrize("attempt", [1, 2, 5, 100])
def test_fail_always_fails_every_attempt(attempt: int) -> None:
    assert simulated_failure("fail_always", attempt) == "simulated failure (fail_always)"


@pytest.mark.parametrize("times", [1, 2, 4])
def test_fail_times_fails_the_first_n_attempts_then_succeeds(times: int) -> None:
    outcomes = [simulated_failure({"fail_times": times}, attempt) for attempt in range(1, times + 2)]
    assert outcomes == [f"simulated failure {attempt} of {times}" for attempt in range(1, times + 1)] + [None]


def test_fail_times_zero_never_fails() -> None:
    assert simulated_failure({"fail_times": 0}, 1) is None


@pytest.mark.parametrize("simulate", [None, "", "fail", {"fail_times": "2"}, {"other": 1}, ["fail_always"], 3])
def test_anything_else_never_fails(simulate: object) -> None:
    assert simulated_failure(simulate, 1) is None
