"""Tests for project.celery's start-up refusal of unsafe time limits (pure logic)."""

from types import SimpleNamespace

import pytest

from project.celery import UnsafeTimeLimitsError, check_time_limits


def conf(*, visibility: int = 3600, hard: int | None = 300, soft: int | None = 270) -> SimpleNamespace:
    return SimpleNamespace(
        broker_transport_options={"visibility_timeout": visibility}, task_time_limit=hard, task_soft_time_limit=soft
    )


@pytest.mark.parametrize(
    ("settings", "lease"),
    [
        pytest.param(conf(), 6.0, id="defaults"),
        pytest.param(conf(visibility=2, hard=300, soft=270), 2.0, id="time-limits-past-a-2s-visibility"),
        pytest.param(conf(visibility=6, hard=3, soft=None), 6.0, id="lease-equal-to-visibility-no-soft-limit"),
    ],
)
def test_safe_settings_are_accepted(settings: SimpleNamespace, lease: float) -> None:
    check_time_limits(settings, lease_seconds=lease)


@pytest.mark.parametrize(
    ("settings", "lease", "refusal"),
    [
        pytest.param(
            conf(visibility=2),
            6.0,
            "SWITCHBOARD_LEASE_SECONDS (6) must not exceed CELERY_BROKER_VISIBILITY_TIMEOUT (2): "
            "running tasks renew their visibility every third of the lease",
            id="lease-longer-than-visibility",
        ),
        pytest.param(
            conf(visibility=5),
            5.5,
            "SWITCHBOARD_LEASE_SECONDS (5.5) must not exceed CELERY_BROKER_VISIBILITY_TIMEOUT (5): "
            "running tasks renew their visibility every third of the lease",
            id="fractional-lease",
        ),
        pytest.param(
            conf(hard=None, soft=None),
            6.0,
            "CELERY_TASK_TIME_LIMIT must be set: a handler that never returns would run for ever",
            id="no-hard-limit",
        ),
        pytest.param(
            conf(hard=60, soft=60),
            6.0,
            "CELERY_TASK_SOFT_TIME_LIMIT (60) must be below CELERY_TASK_TIME_LIMIT (60)",
            id="soft-equals-hard",
        ),
    ],
)
def test_unsafe_settings_are_refused_with_the_setting_to_change(
    settings: SimpleNamespace, lease: float, refusal: str
) -> None:
    with pytest.raises(UnsafeTimeLimitsError) as info:
        check_time_limits(settings, lease_seconds=lease)
    assert str(info.value) == refusal
