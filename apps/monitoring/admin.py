"""Alert rules, their current alerts and their history in the admin: read-only (config/alerts.yaml rules)."""

from django.contrib import admin
from django.http import HttpRequest

from apps.monitoring.models import Alert, AlertIncident, AlertNotifier, AlertRule


class _ReadOnly(admin.ModelAdmin):
    """Rows written by sync_alerts and beat only: the admin shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(_ReadOnly):
    list_display = ["name", "kind", "severity", "updated_at"]
    list_filter = ["kind", "severity"]
    readonly_fields = ["name", "kind", "severity", "spec", "position", "updated_at"]


@admin.register(Alert)
class AlertAdmin(_ReadOnly):
    list_display = ["rule", "subscription", "status", "value", "since", "evaluated_at"]
    list_filter = ["status", "rule"]
    search_fields = ["subscription"]


@admin.register(AlertIncident)
class AlertIncidentAdmin(_ReadOnly):
    """The history: which rule fired on which subscription, when, with what value, and when it resolved."""

    list_display = [
        "rule",
        "subscription",
        "severity",
        "fired_at",
        "fired_value",
        "resolved_at",
        "resolved_value",
        "notifications",
    ]
    list_filter = ["severity", "rule", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["rule", "subscription"]
    date_hierarchy = "fired_at"


@admin.register(AlertNotifier)
class AlertNotifierAdmin(_ReadOnly):
    list_display = ["name", "kind"]
