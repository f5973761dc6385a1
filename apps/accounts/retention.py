"""Retention of the audit log (registered in AccountsConfig.ready).

An audit event is kept for SWITCHBOARD_AUDIT_RETENTION_DAYS (default 365) and then
deleted by beat, oldest first, through its `at` index.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from apps.accounts.models import AuditEvent
from apps.core.retention import RetentionPolicy, retention_register


def audit_events_due(now: datetime) -> "QuerySet[AuditEvent]":
    cutoff = now - timedelta(days=settings.SWITCHBOARD_AUDIT_RETENTION_DAYS)
    return AuditEvent.objects.filter(at__lt=cutoff).order_by()


def retention_policies_register() -> None:
    retention_register(
        RetentionPolicy(
            name="audit-events",
            model=AuditEvent,
            due=audit_events_due,
            description="audit events past SWITCHBOARD_AUDIT_RETENTION_DAYS",
        )
    )
