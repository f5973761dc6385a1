"""Retention of alert history (registered in MonitoringConfig.ready).

A resolved incident goes SWITCHBOARD_ALERT_RETENTION_DAYS (default 30) after it was
resolved; a firing one stays. Incidents are one row per firing, a small table, so the
query needs no index of its own. Dashboard samples keep their own short retention
(apps.monitoring.snapshots).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from apps.core.retention import RetentionPolicy, retention_register
from apps.monitoring.models import AlertIncident


def alert_incidents_due(now: datetime) -> "QuerySet[AlertIncident]":
    cutoff = now - timedelta(days=settings.SWITCHBOARD_ALERT_RETENTION_DAYS)
    return AlertIncident.objects.filter(resolved_at__lt=cutoff).order_by()


def retention_policies_register() -> None:
    retention_register(
        RetentionPolicy(
            name="alert-incidents",
            model=AlertIncident,
            due=alert_incidents_due,
            description="resolved alert incidents past SWITCHBOARD_ALERT_RETENTION_DAYS",
        )
    )
