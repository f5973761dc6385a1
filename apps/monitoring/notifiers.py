"""Tell people that an alert fired, reminds, or resolved: HTTP webhook, email, or the log.

One notice covers one rule's alerts that changed in the same evaluation (one or many
subscriptions), so a rule over `*` that fires on 200 subscriptions sends one message per
notifier, not 200. Sending never raises: a notifier that fails is logged and counted as
not sent, and evaluation goes on.

Webhooks are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) with the secrets in the notifier's `secrets_env`, and go out through
the delivery app's transport (explicit timeouts, no redirects, private addresses only if
SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS allows them). `format: slack` sends Slack's
incoming-webhook body (`{"text": ...}`) instead of Switchboard's JSON.
"""

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.conf import settings
from django.core.mail import send_mail

from apps.core.ids import uuid7
from apps.delivery import transport
from apps.delivery.webhooks import webhook_signature_headers
from apps.monitoring.alert_rules import NotifierSpec
from apps.monitoring.alert_state import Notification

logger = logging.getLogger(__name__)

_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@dataclass(frozen=True)
class AlertLine:
    subscription: str
    value: float
    since: datetime | None = None


@dataclass(frozen=True)
class AlertNotice:
    """What one notification says: a rule, what happened to it, and on which subscriptions."""

    rule: str
    kind: str
    severity: str
    notification: Notification
    threshold: float
    at: datetime
    alerts: list[AlertLine] = field(default_factory=list)
    description: str = ""

    def summary(self) -> str:
        """One line a person reads first, e.g. `[critical] backlog FIRED on billing-charge (12 > 5)`."""
        where = ", ".join(f"{a.subscription} ({a.value:g})" for a in self.alerts[:10])
        more = f" and {len(self.alerts) - 10} more" if len(self.alerts) > 10 else ""
        verb = {"fired": "FIRED", "reminder": "still firing", "resolved": "resolved"}[self.notification]
        return f"[{self.severity}] {self.rule} {verb} on {where}{more} ({self.kind}, threshold {self.threshold:g})"

    def as_json(self) -> dict[str, object]:
        return {
            "type": f"alert.{self.notification}",
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "threshold": self.threshold,
            "at": self.at.isoformat(),
            "description": self.description,
            "summary": self.summary(),
            "alerts": [
                {
                    "subscription": a.subscription,
                    "value": a.value,
                    "since": a.since.isoformat() if a.since else None,
                }
                for a in self.alerts
            ],
        }


def notice_send(*, notifier: NotifierSpec, notice: AlertNotice) -> bool:
    """Send `notice` through `notifier`; return whether it was accepted."""
    try:
        if notifier.kind == "webhook":
            return _webhook_send(notifier, notice)
        if notifier.kind == "email":
            return _email_send(notifier, notice)
    except (OSError, ValueError) as exc:  # SMTP and socket errors; a malformed secret
        logger.error("Alert notifier %s failed: %s", notifier.name, exc)
        return False
    logger.log(_LOG_LEVELS[notifier.level], "Alert: %s", notice.summary())
    return True


def webhook_body(*, notice: AlertNotice, body_format: str) -> bytes:
    if body_format == "slack":
        return orjson.dumps({"text": notice.summary()})
    return orjson.dumps(notice.as_json())


def _webhook_send(notifier: NotifierSpec, notice: AlertNotice) -> bool:
    body = webhook_body(notice=notice, body_format=notifier.format)
    headers = {"Content-Type": "application/json"}
    if notifier.secrets_env:
        secrets = os.environ.get(notifier.secrets_env, "").split()
        headers = webhook_signature_headers(
            msg_id=f"alert_{uuid7().hex}", body=body, secrets=secrets, timestamp=int(time.time())
        )
    result = transport.webhook_post(
        url=notifier.url,
        body=body,
        headers=headers,
        connect_timeout=settings.SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT,
        read_timeout=settings.SWITCHBOARD_WEBHOOK_READ_TIMEOUT,
        allowed_hosts=settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS,
    )
    if result.outcome is not transport.Outcome.SUCCESS:
        logger.error(
            "Alert notifier %s: %s answered %s %s", notifier.name, notifier.url, result.status_code, result.error
        )
        return False
    return True


def _email_send(notifier: NotifierSpec, notice: AlertNotice) -> bool:
    body = orjson.dumps(notice.as_json(), option=orjson.OPT_INDENT_2).decode()
    sent = send_mail(
        subject=f"Switchboard alert: {notice.summary()}"[:200],
        message=f"{notice.summary()}\n\n{notice.description}\n\n{body}\n",
        from_email=None,
        recipient_list=notifier.to,
    )
    return sent > 0
