"""The life of one alert (a rule on one subscription): ok → pending → firing → resolved.

A pure function decides each step from the previous state and whether the rule's
condition holds now; it says which notification the step calls for (at most one), so the
caller persists the state and notifies without deciding anything itself:

| from | condition holds | condition clear |
|---|---|---|
| ok, resolved | pending (firing at once when `hold` is 0: notify *fired*) | unchanged |
| pending | firing once it held for `hold` (notify *fired*), else pending | ok (never notified) |
| firing | firing; notify *reminder* every `reminder` seconds if set | resolved (notify *resolved*) |

So a firing alert notifies once when it fires and once when it resolves, plus the
reminders it asks for; a condition that flickers shorter than `hold` notifies nothing.
"""

import enum
from dataclasses import dataclass, replace
from datetime import datetime


class AlertStatus(enum.StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Notification(enum.StrEnum):
    FIRED = "fired"
    REMINDER = "reminder"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertState:
    status: AlertStatus = AlertStatus.OK
    since: datetime | None = None  # when the condition began to hold (pending and firing)
    notified_at: datetime | None = None  # the last notification of this firing


@dataclass(frozen=True)
class AlertStep:
    state: AlertState
    notification: Notification | None = None


def alert_step(state: AlertState, *, holds: bool, now: datetime, hold: float, reminder: float) -> AlertStep:
    """Return the state after one evaluation and the notification it calls for, if any."""
    status = state.status
    if not holds:
        if status is AlertStatus.FIRING:
            return AlertStep(AlertState(AlertStatus.RESOLVED), Notification.RESOLVED)
        if status is AlertStatus.PENDING:
            return AlertStep(AlertState(AlertStatus.OK))
        return AlertStep(state)
    if status in (AlertStatus.OK, AlertStatus.RESOLVED):
        state = AlertState(AlertStatus.PENDING, since=now)
    if state.status is AlertStatus.PENDING:
        assert state.since is not None
        if (now - state.since).total_seconds() >= hold:
            return AlertStep(AlertState(AlertStatus.FIRING, since=state.since, notified_at=now), Notification.FIRED)
        return AlertStep(state)
    assert state.notified_at is not None
    if reminder > 0 and (now - state.notified_at).total_seconds() >= reminder:
        return AlertStep(replace(state, notified_at=now), Notification.REMINDER)
    return AlertStep(state)
