"""Read alert rules with the state of each of their alerts, and the firing ones."""

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from apps.monitoring.alert_state import AlertStatus
from apps.monitoring.models import Alert, AlertIncident, AlertRule


@dataclass(frozen=True)
class FiringAlert:
    rule: str
    severity: str
    subscription: str
    value: float | None


def alert_rules_with_alerts() -> QuerySet[AlertRule]:
    """Every rule in file order, each with its alerts (one per subscription it measured)."""
    return AlertRule.objects.prefetch_related(Prefetch("alerts", queryset=Alert.objects.order_by("subscription")))


def alerts_firing(*, subscription: str | None = None) -> list[FiringAlert]:
    alerts = (
        Alert.objects.filter(status=AlertStatus.FIRING).select_related("rule").order_by("rule__name", "subscription")
    )
    if subscription is not None:
        alerts = alerts.filter(subscription=subscription)
    return [FiringAlert(a.rule.name, a.rule.severity, a.subscription, a.value) for a in alerts]


def rules_firing() -> list[tuple[str, str]]:
    """(rule, severity) of every rule that fires on at least one subscription, by name."""
    firing = Alert.objects.filter(status=AlertStatus.FIRING).values_list("rule__name", "rule__severity")
    return sorted(set(firing))


def alert_incidents_recent(*, subscription: str | None = None, limit: int = 20) -> list[AlertIncident]:
    incidents = AlertIncident.objects.all()
    if subscription is not None:
        incidents = incidents.filter(subscription=subscription)
    return list(incidents[:limit])
