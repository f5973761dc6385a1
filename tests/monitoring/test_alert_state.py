"""ok → pending → firing → resolved: one notification on fire, one on resolve, reminders if asked."""

from datetime import UTC, datetime, timedelta

from apps.monitoring.alert_state import AlertState, AlertStatus, Notification, alert_step

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def run(conditions: list[bool], *, hold: float, reminder: float = 0.0) -> list[tuple[str, str | None]]:
    """Step once a second through `conditions`; return (status, notification) per step."""
    state, seen = AlertState(), []
    for second, holds in enumerate(conditions):
        step = alert_step(state, holds=holds, now=T0 + timedelta(seconds=second), hold=hold, reminder=reminder)
        state = step.state
        seen.append((state.status.value, step.notification.value if step.notification else None))
    return seen


def test_a_condition_that_lasts_past_hold_fires_once_then_resolves_once() -> None:
    assert run([False, True, True, True, True, False, False], hold=2) == [
        ("ok", None),
        ("pending", None),
        ("pending", None),
        ("firing", "fired"),
        ("firing", None),
        ("resolved", "resolved"),
        ("resolved", None),
    ]


def test_a_flicker_shorter_than_hold_notifies_nothing() -> None:
    assert run([True, False, True, True, False, True], hold=5) == [
        ("pending", None),
        ("ok", None),
        ("pending", None),
        ("pending", None),
        ("ok", None),
        ("pending", None),
    ]


def test_without_hold_it_fires_at_once_and_can_fire_again_after_resolving() -> None:
    notifications = [n for _, n in run([True, True, False, True, False], hold=0) if n]
    assert notifications == ["fired", "resolved", "fired", "resolved"]


def test_reminders_come_every_reminder_seconds_while_firing() -> None:
    seen = run([True] * 8 + [False], hold=0, reminder=3)
    assert [n for _, n in seen] == ["fired", None, None, "reminder", None, None, "reminder", None, "resolved"]


def test_firing_keeps_when_it_began() -> None:
    state = AlertState(AlertStatus.PENDING, since=T0)
    step = alert_step(state, holds=True, now=T0 + timedelta(seconds=10), hold=10, reminder=0)
    assert step == type(step)(
        AlertState(AlertStatus.FIRING, since=T0, notified_at=T0 + timedelta(seconds=10)), Notification.FIRED
    )
