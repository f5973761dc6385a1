from typing import Any

from rest_framework import serializers

from apps.monitoring.models import Alert, AlertRule


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = ["subscription", "status", "value", "since", "evaluated_at"]


class AlertRuleSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField(help_text="firing if any alert fires, else pending, resolved or ok.")
    subscriptions = serializers.SerializerMethodField()
    threshold = serializers.SerializerMethodField()
    hold_seconds = serializers.SerializerMethodField()
    window_seconds = serializers.SerializerMethodField()
    notifiers = serializers.SerializerMethodField()
    alerts = AlertSerializer(many=True)

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "kind",
            "severity",
            "status",
            "subscriptions",
            "threshold",
            "hold_seconds",
            "window_seconds",
            "notifiers",
            "alerts",
        ]

    def get_status(self, rule: AlertRule) -> str:
        statuses = {alert.status for alert in rule.alerts.all()}
        return next((s for s in ("firing", "pending", "resolved") if s in statuses), "ok")

    def get_subscriptions(self, rule: AlertRule) -> list[str]:
        return list(rule.spec["selectors"])

    def get_threshold(self, rule: AlertRule) -> float:
        return float(rule.spec["threshold"])

    def get_hold_seconds(self, rule: AlertRule) -> float:
        return float(rule.spec["hold"])

    def get_window_seconds(self, rule: AlertRule) -> float:
        return float(rule.spec["window"])

    def get_notifiers(self, rule: AlertRule) -> list[str]:
        names: list[Any] = rule.spec["notifiers"]
        return [str(name) for name in names]
