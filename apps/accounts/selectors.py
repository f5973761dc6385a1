"""Read the audit log."""

from datetime import datetime

from django.db.models import QuerySet

from apps.accounts.models import AuditEvent


def audit_events_filter(
    *, action: str | None = None, actor: str | None = None, actor_kind: str | None = None, since: datetime | None = None
) -> QuerySet[AuditEvent]:
    """Return the audit events matching every given filter, newest first."""
    events = AuditEvent.objects.order_by("-at", "-pk")
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor_name=actor)
    if actor_kind:
        events = events.filter(actor_kind=actor_kind)
    if since is not None:
        events = events.filter(at__gte=since)
    return events
