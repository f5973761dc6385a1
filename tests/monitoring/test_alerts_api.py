"""GET /api/v1/alerts lists the rules with their state; the admin shows the history."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from apps.monitoring import alerting
from apps.monitoring.alert_rules import alerts_parse
from apps.monitoring.readings import SubscriptionReading

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULES = """
notifiers: [{name: log, kind: log}]
rules:
  - {name: backlog, kind: queue_depth, subscriptions: "*", above: 5, for: 0, severity: critical, notifiers: [log]}
  - {name: idle, kind: no_consumers, subscriptions: "billing-*", for: 1m, severity: warning, notifiers: []}
"""


def fire_backlog_on_billing() -> None:
    alerting.alerts_sync(spec=alerts_parse(RULES))
    figures = [
        SubscriptionReading(name="billing-charge", depth={"ready": 9}, consumers=0),
        SubscriptionReading(name="inventory-reserve", depth={"ready": 1}, consumers=1),
    ]
    alerting.alerts_evaluate(figures=figures, now=T0, send=lambda **kwargs: True)


def test_alerts_lists_each_rule_with_the_state_of_its_alerts(authenticated_client: APIClient) -> None:
    fire_backlog_on_billing()

    response = authenticated_client.get("/api/v1/alerts")

    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "backlog",
            "kind": "queue_depth",
            "severity": "critical",
            "status": "firing",
            "subscriptions": ["*"],
            "threshold": 5.0,
            "hold_seconds": 0.0,
            "window_seconds": 0.0,
            "notifiers": ["log"],
            "alerts": [
                {
                    "subscription": "billing-charge",
                    "status": "firing",
                    "value": 9.0,
                    "since": "2026-12-02T12:00:00Z",
                    "evaluated_at": "2026-12-02T12:00:00Z",
                },
                {
                    "subscription": "inventory-reserve",
                    "status": "ok",
                    "value": 1.0,
                    "since": None,
                    "evaluated_at": "2026-12-02T12:00:00Z",
                },
            ],
        },
        {
            "name": "idle",
            "kind": "no_consumers",
            "severity": "warning",
            "status": "pending",
            "subscriptions": ["billing-*"],
            "threshold": 0.0,
            "hold_seconds": 60.0,
            "window_seconds": 0.0,
            "notifiers": [],
            "alerts": [
                {
                    "subscription": "billing-charge",
                    "status": "pending",
                    "value": 0.0,
                    "since": "2026-12-02T12:00:00Z",
                    "evaluated_at": "2026-12-02T12:00:00Z",
                }
            ],
        },
    ]


def test_alerts_needs_an_api_key(api_client: APIClient) -> None:
    assert api_client.get("/api/v1/alerts").status_code == 401


def test_the_admin_shows_the_history(client: Client) -> None:
    fire_backlog_on_billing()
    alerting.alerts_evaluate(
        figures=[SubscriptionReading(name="billing-charge", depth={"ready": 0})],
        now=T0 + timedelta(minutes=1),
        send=lambda **kwargs: True,
    )
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))

    page = client.get("/admin/monitoring/alertincident/").content.decode()

    assert "billing-charge" in page and "backlog" in page
    assert "Dec. 2, 2026, noon" in page and "Dec. 2, 2026, 12:01 p.m." in page
    assert client.get("/admin/monitoring/alertrule/").status_code == 200
    assert client.get("/admin/monitoring/alert/").status_code == 200
