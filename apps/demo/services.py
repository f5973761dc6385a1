"""The demo webhook receiver: what an order-email service behind a webhook would do.

It verifies the Standard Webhooks signature with the secrets in
SWITCHBOARD_DEMO_WEBHOOK_SECRETS (the variable that config/topology.yaml's `email-send`
subscription signs with), records one DemoEmail per message, and can fail on request:
a payload with ``"simulate_email": {"status": 503, "times": 2}`` is answered 503 on
attempts 1 and 2 (the body's `attempt`), and accepted on attempt 3; add
``"retry_after": SECONDS`` to send a Retry-After header with the failures.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from apps.demo.models import DemoEmail
from apps.topology.webhook_secrets import webhook_secret_is_valid

DEMO_SECRETS_ENV = "SWITCHBOARD_DEMO_WEBHOOK_SECRETS"


@dataclass(frozen=True)
class ReceiverAnswer:
    """The HTTP answer the receiver gives: a status, why, and an optional Retry-After."""

    status: int
    detail: str = ""
    retry_after: int | None = None


def demo_receiver_secrets() -> list[str]:
    """Read the receiver's secrets from the environment at each request (they may rotate)."""
    return os.environ.get(DEMO_SECRETS_ENV, "").split()


def demo_webhook_receive(*, body: bytes, headers: Mapping[str, str], secrets: list[str]) -> ReceiverAnswer:
    """Verify a webhook request and record the order email it asks for.

    401 for a signature that no secret verifies, 400 for an event that is not an order
    with an email, the simulated status while `simulate_email` asks for a failure, and
    204 once the email is recorded (again 204, without a second row, for a duplicate).
    """
    if not _verifies(body, headers, secrets):
        return ReceiverAnswer(status=401, detail="The webhook signature does not verify.")
    try:
        event = json.loads(body)
    except ValueError:
        return ReceiverAnswer(status=400, detail="The body is not JSON.")
    payload = event.get("payload") if isinstance(event, dict) else None
    if not isinstance(payload, dict) or not _is_email(payload.get("email")):
        return ReceiverAnswer(status=400, detail="An order email needs payload.email, an email address.")
    simulated = _simulated_failure(payload.get("simulate_email"), event.get("attempt"))
    if simulated is not None:
        return simulated
    DemoEmail.objects.get_or_create(
        message_id=event["id"], defaults={"order_id": str(payload.get("order_id", ""))[:100], "to": payload["email"]}
    )
    return ReceiverAnswer(status=204)


def _verifies(body: bytes, headers: Mapping[str, str], secrets: list[str]) -> bool:
    for secret in secrets:
        if not webhook_secret_is_valid(secret):
            continue
        try:
            Webhook(secret).verify(body, dict(headers), json_parse=False)
        except (WebhookVerificationError, ValueError):  # ValueError: malformed signature headers
            continue
        return True
    return False


def _is_email(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 254:
        return False
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _simulated_failure(simulate: Any, attempt: Any) -> ReceiverAnswer | None:
    if simulate is None:
        return None
    spec = simulate if isinstance(simulate, dict) else {}
    status, times, retry_after = spec.get("status"), spec.get("times"), spec.get("retry_after")
    if not (isinstance(status, int) and 400 <= status <= 599 and isinstance(times, int)):
        return ReceiverAnswer(status=400, detail='simulate_email must be {"status": 400-599, "times": N}.')
    if isinstance(attempt, int) and attempt <= times:
        return ReceiverAnswer(
            status=status,
            detail=f"Simulated failure {attempt} of {times}.",
            retry_after=retry_after if isinstance(retry_after, int) and retry_after >= 0 else None,
        )
    return None
