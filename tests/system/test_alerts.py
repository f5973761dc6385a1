"""An alert rule fires and resolves with real processes: gunicorn, a worker, the relay and beat.

A paused subscription's queue grows past the rule's depth; beat's monitoring tick (every
second here) sees it, the rule fires, and a real HTTP receiver on loopback gets one
notification signed per Standard Webhooks; after the resume the queue drains, the rule
resolves, and the receiver gets exactly one more.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from django.core.management import call_command
from standardwebhooks import Webhook

from apps.monitoring.models import AlertIncident
from tests.delivery.test_transport import LocalServer
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import publish
from tests.system.beat import start_beat

SECRET = "whsec_c3dpdGNoYm9hcmQtYWxlcnQtdGVzdC1zZWNyZXQhIQ=="
RULES = """
notifiers:
  - {{name: hook, kind: webhook, url: "{url}", secrets_env: SWITCHBOARD_TEST_ALERT_SECRETS}}
rules:
  - {{name: billing-backlog, kind: queue_depth, subscriptions: billing-charge, above: 5, for: 2s,
     severity: critical, notifiers: [hook], reminder: 1h}}
"""


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    server = LocalServer().start()
    yield server
    server.stop()


def received(receiver: LocalServer) -> list[dict[str, Any]]:
    """Verify each notification's signature and return the bodies, in order."""
    bodies = []
    for request in receiver.requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        Webhook(SECRET).verify(request.body, headers)  # raises on a bad or missing signature
        bodies.append(orjson.loads(request.body))
    return bodies


def rule_state(client: httpx.Client) -> str:
    [rule] = client.get("/api/v1/alerts").json()
    return str(rule["status"])


def test_a_paused_subscription_past_its_depth_fires_once_and_resolves_once(
    stack: Stack,
    client: httpx.Client,
    receiver: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_TEST_ALERT_SECRETS", SECRET)
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES.format(url=receiver.url("/alerts")))
    call_command("sync_alerts", "--file", str(rules), verbosity=0)
    stack.env.update(SWITCHBOARD_TEST_ALERT_SECRETS=SECRET, SWITCHBOARD_MONITORING_INTERVAL="1")
    stack.start_worker()
    stack.start_relay()
    start_beat(stack, directory=tmp_path)

    assert client.post("/api/v1/subscriptions/billing-charge/pause").status_code == 200
    for n in range(8):
        publish(client, {"order_id": f"A-{n}", "total": "1"})

    wait_until(lambda: receiver.requests, timeout=60, what="the fired notification")
    time.sleep(3)  # three more ticks: still one notification
    [fired] = received(receiver)
    assert (fired["type"], fired["rule"], fired["severity"], fired["threshold"]) == (
        "alert.fired",
        "billing-backlog",
        "critical",
        5.0,
    )
    assert [(a["subscription"], a["value"]) for a in fired["alerts"]] == [("billing-charge", 8.0)]
    assert rule_state(client) == "firing"

    assert client.post("/api/v1/subscriptions/billing-charge/resume").status_code == 200
    wait_until(lambda: len(receiver.requests) >= 2, timeout=60, what="the resolved notification")
    time.sleep(3)
    fired_again, resolved = received(receiver)
    assert fired_again == fired
    assert (resolved["type"], resolved["rule"]) == ("alert.resolved", "billing-backlog")
    assert [a["subscription"] for a in resolved["alerts"]] == ["billing-charge"]
    assert rule_state(client) == "resolved"
    incident = AlertIncident.objects.get()
    assert (incident.rule, incident.subscription, incident.fired_value, incident.notifications) == (
        "billing-backlog",
        "billing-charge",
        8.0,
        2,
    )
    assert incident.resolved_at is not None and incident.resolved_at > incident.fired_at
    print(f"notifications={len(receiver.requests)} fired_at={incident.fired_at} resolved_at={incident.resolved_at}")
