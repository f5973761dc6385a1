"""Notifiers: a signed webhook to a real local HTTP server, Slack's body, email, the log."""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from django.core import mail
from standardwebhooks import Webhook

from apps.monitoring.alert_rules import NotifierSpec
from apps.monitoring.alert_state import Notification
from apps.monitoring.notifiers import AlertLine, AlertNotice, notice_send
from tests.delivery.test_transport import LocalServer, Reply

SECRET = "whsec_c3dpdGNoYm9hcmQtZGVtby13ZWJob29rLXNlY3JldCE="
AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
NOTICE = AlertNotice(
    rule="backlog",
    kind="queue_depth",
    severity="critical",
    notification=Notification.FIRED,
    threshold=5,
    at=AT,
    alerts=[AlertLine(subscription="billing-charge", value=12, since=AT)],
    description="Messages wait.",
)


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    server = LocalServer().start()
    yield server
    server.stop()


def test_a_webhook_notice_is_signed_per_standard_webhooks(
    receiver: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_SECRETS", SECRET)
    notifier = NotifierSpec(name="hook", kind="webhook", url=receiver.url("/alerts"), secrets_env="ALERT_SECRETS")

    assert notice_send(notifier=notifier, notice=NOTICE) is True

    [request] = receiver.requests
    assert request.path == "/alerts"
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["webhook-id"].startswith("alert_")
    Webhook(SECRET).verify(request.body, headers)  # raises if the signature is wrong
    assert orjson.loads(request.body) == {
        "type": "alert.fired",
        "rule": "backlog",
        "kind": "queue_depth",
        "severity": "critical",
        "threshold": 5,
        "at": "2026-12-02T12:00:00+00:00",
        "description": "Messages wait.",
        "summary": "[critical] backlog FIRED on billing-charge (12) (queue_depth, threshold 5)",
        "alerts": [{"subscription": "billing-charge", "value": 12, "since": "2026-12-02T12:00:00+00:00"}],
    }


def test_a_slack_notice_carries_slacks_text_body(receiver: LocalServer) -> None:
    notifier = NotifierSpec(name="chat", kind="webhook", url=receiver.url("/slack"), format="slack")

    assert notice_send(notifier=notifier, notice=NOTICE) is True

    assert orjson.loads(receiver.requests[0].body) == {
        "text": "[critical] backlog FIRED on billing-charge (12) (queue_depth, threshold 5)"
    }
    assert "webhook-signature" not in {name.lower() for name in receiver.requests[0].headers}


def test_a_webhook_that_answers_500_is_reported_not_sent(
    receiver: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.replies["/down"] = Reply(status=500)
    notifier = NotifierSpec(name="chat", kind="webhook", url=receiver.url("/down"), format="slack")

    assert notice_send(notifier=notifier, notice=NOTICE) is False
    assert "Alert notifier chat" in caplog.text and "500" in caplog.text


def test_an_email_notice_goes_through_djangos_backend() -> None:
    notifier = NotifierSpec(name="ops", kind="email", to=["ops@example.com"])

    assert notice_send(notifier=notifier, notice=NOTICE) is True

    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert (
        message.subject
        == "Switchboard alert: [critical] backlog FIRED on billing-charge (12) (queue_depth, threshold 5)"
    )
    assert "Messages wait." in message.body


def test_a_log_notice_is_one_line_at_its_level(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="apps.monitoring.notifiers"):
        assert notice_send(notifier=NotifierSpec(name="log", kind="log", level="error"), notice=NOTICE) is True
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Alert: [critical] backlog FIRED on billing-charge (12) (queue_depth, threshold 5)")
    ]
