"""Load alert rules into the database, and evaluate them: the one writer of Alert and AlertIncident.

`alerts_sync` copies a validated `AlertsSpec` into the database in one transaction.
`alerts_evaluate` (run by beat, apps.monitoring.tasks) measures each rule on each
subscription it selects, steps its state (apps.monitoring.alert_state), records fired and
resolved incidents, and after the commit sends one notice per rule and notification kind
through each of the rule's notifiers (apps.monitoring.notifiers).
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.monitoring import notifiers, readings
from apps.monitoring.alert_rules import AlertsSpec, NotifierSpec, RuleSpec
from apps.monitoring.alert_state import AlertState, AlertStatus, Notification, alert_step
from apps.monitoring.models import Alert, AlertIncident, AlertNotifier, AlertRule
from apps.monitoring.readings import SubscriptionReading

logger = logging.getLogger(__name__)

# Kinds that look back over a window themselves: they fire as soon as the window says so.
_WINDOWED = {"dead_letters_growth", "error_rate"}
_ALERT_FIELDS = ["status", "since", "notified_at", "value", "evaluated_at", "incident"]


@dataclass
class EvaluationReport:
    evaluated: int = 0
    notices: list[tuple[str, notifiers.AlertNotice, bool]] = field(default_factory=list)  # notifier, notice, sent


def alerts_sync(*, spec: AlertsSpec) -> tuple[int, int]:
    """Make the stored rules and notifiers those of `spec`; return (rules, notifiers) kept."""
    with transaction.atomic():
        AlertNotifier.objects.exclude(name__in=[n.name for n in spec.notifiers]).delete()
        for notifier in spec.notifiers:
            AlertNotifier.objects.update_or_create(
                name=notifier.name, defaults={"kind": notifier.kind, "spec": asdict(notifier)}
            )
        removed = AlertRule.objects.exclude(name__in=[r.name for r in spec.rules])
        AlertIncident.objects.filter(rule__in=removed.values("name"), resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
        removed.delete()
        for position, rule in enumerate(spec.rules):
            AlertRule.objects.update_or_create(
                name=rule.name,
                defaults={"kind": rule.kind, "severity": rule.severity, "spec": asdict(rule), "position": position},
            )
    return len(spec.rules), len(spec.notifiers)


def rule_windows(rule: RuleSpec, *, now: datetime) -> dict[str, tuple[int, int]]:
    """What a windowed rule looks back on, for every subscription at once: (count, all)."""
    since = now - timedelta(seconds=rule.window)
    if rule.kind == "dead_letters_growth":
        return {name: (n, n) for name, n in readings.dead_letters_since(since=since).items()}
    if rule.kind == "error_rate":
        return readings.failures_since(since=since)
    return {}


def rule_measure(
    rule: RuleSpec,
    figures: SubscriptionReading,
    *,
    now: datetime,
    windows: dict[str, tuple[int, int]] | None = None,
) -> tuple[float, bool] | None:
    """Measure `rule` on one subscription: (value, whether the condition holds), or None if unknown.

    Windowed kinds read `windows` (rule_windows, computed once per rule and evaluation).
    """
    if rule.kind == "queue_depth":
        value = float(sum(figures.depth.get(state, 0) for state in rule.states))
        return value, value > rule.threshold
    if rule.kind == "oldest_age":
        return figures.oldest_age, figures.oldest_age > rule.threshold
    if rule.kind == "outbox_backlog":
        value = float(figures.depth.get("outbox", 0))
        return value, value > rule.threshold
    if rule.kind == "no_consumers":
        if figures.consumers is None or figures.paused:
            return None  # unknown, or nobody should consume a paused queue
        return float(figures.consumers), figures.consumers == 0
    windows = rule_windows(rule, now=now) if windows is None else windows
    counted, total = windows.get(figures.name, (0, 0))
    if rule.kind == "dead_letters_growth":
        return float(counted), counted >= rule.threshold
    rate = counted / total if total else 0.0
    return rate, total >= rule.min_attempts and rate > rule.threshold


def alerts_evaluate(
    *,
    figures: list[SubscriptionReading],
    now: datetime | None = None,
    send: Callable[..., bool] = notifiers.notice_send,
) -> EvaluationReport:
    """Evaluate every stored rule on the subscriptions it selects, then notify what changed."""
    now = now or timezone.now()
    report = EvaluationReport()
    pending: list[tuple[RuleSpec, notifiers.AlertNotice, list[int]]] = []
    with transaction.atomic():
        for row in AlertRule.objects.all():
            rule = RuleSpec(**row.spec)
            changes = _evaluate_rule(row, rule, [f for f in figures if rule.selects(f.name)], now)
            report.evaluated += len(changes.measured)
            for kind, lines_and_incidents in changes.notices.items():
                lines = [line for line, _ in lines_and_incidents]
                notice = notifiers.AlertNotice(
                    rule=rule.name,
                    kind=rule.kind,
                    severity=rule.severity,
                    notification=kind,
                    threshold=rule.threshold,
                    at=now,
                    alerts=lines,
                    description=rule.description,
                )
                pending.append((rule, notice, [incident for _, incident in lines_and_incidents]))
    specs = {n.name: NotifierSpec(**n.spec) for n in AlertNotifier.objects.all()}
    for rule, notice, incident_ids in pending:
        sent = 0
        for name in rule.notifiers:
            accepted = send(notifier=specs[name], notice=notice)
            report.notices.append((name, notice, accepted))
            sent += accepted
        if sent:
            AlertIncident.objects.filter(pk__in=incident_ids).update(notifications=F("notifications") + 1)
    return report


@dataclass
class _RuleChanges:
    measured: list[str] = field(default_factory=list)
    notices: dict[Notification, list[tuple[notifiers.AlertLine, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _evaluate_rule(row: AlertRule, rule: RuleSpec, selected: list[SubscriptionReading], now: datetime) -> _RuleChanges:
    """Step every selected subscription's alert; write them all in a few statements."""
    changes = _RuleChanges()
    alerts = {alert.subscription: alert for alert in Alert.objects.filter(rule=row).select_related("incident")}
    hold = 0.0 if rule.kind in _WINDOWED else rule.hold
    windows = rule_windows(rule, now=now) if rule.kind in _WINDOWED else {}
    created: list[Alert] = []
    updated: list[Alert] = []
    resolved: list[AlertIncident] = []
    told: list[tuple[Notification, notifiers.AlertLine, Alert]] = []
    for figures in selected:
        existing = alerts.pop(figures.name, None)
        measured = rule_measure(rule, figures, now=now, windows=windows)
        if measured is None:
            continue  # not measurable now: the alert stays as it was
        value, holds = measured
        changes.measured.append(figures.name)
        alert = existing or Alert(rule=row, subscription=figures.name)
        previous = AlertState(AlertStatus(alert.status), since=alert.since, notified_at=alert.notified_at)
        step = alert_step(previous, holds=holds, now=now, hold=hold, reminder=rule.reminder)
        if step.notification is Notification.FIRED:
            alert.incident = AlertIncident(
                rule=rule.name, subscription=figures.name, severity=rule.severity, fired_at=now, fired_value=value
            )
        elif step.notification is Notification.RESOLVED and alert.incident is not None:
            alert.incident.resolved_at, alert.incident.resolved_value = now, value
            resolved.append(alert.incident)
        if step.notification is not None and alert.incident is not None:
            line = notifiers.AlertLine(subscription=figures.name, value=value, since=step.state.since or previous.since)
            told.append((step.notification, line, alert))
        alert.status, alert.since, alert.notified_at = step.state.status, step.state.since, step.state.notified_at
        alert.value, alert.evaluated_at = value, now
        (updated if existing else created).append(alert)
    # A few statements per rule, however many subscriptions: one INSERT of the new
    # incidents and alerts each, one UPDATE per 500 rows for the rest.
    fired = [alert.incident for notification, _, alert in told if notification is Notification.FIRED]
    AlertIncident.objects.bulk_create([i for i in fired if i is not None], batch_size=500)
    AlertIncident.objects.bulk_update(resolved, ["resolved_at", "resolved_value"], batch_size=500)
    Alert.objects.bulk_create(created, batch_size=500)
    Alert.objects.bulk_update(updated, _ALERT_FIELDS, batch_size=500)
    for notification, line, alert in told:
        assert alert.incident is not None
        changes.notices[notification].append((line, alert.incident.pk))
    # Subscriptions the rule no longer selects (or that are gone): their alerts end quietly.
    gone = list(alerts.values())
    AlertIncident.objects.filter(
        pk__in=[a.incident_id for a in gone if a.incident_id], resolved_at__isnull=True
    ).update(resolved_at=now)
    Alert.objects.filter(pk__in=[a.pk for a in gone]).delete()
    return changes
