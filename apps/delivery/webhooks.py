"""Deliver messages to webhook subscriptions: sign, POST (through the transport), record.

Each request follows the Standard Webhooks spec: `webhook-id` is the message id (the
same on every attempt, so receivers can deduplicate), `webhook-timestamp` the time of
sending, and `webhook-signature` one `v1,<base64 HMAC-SHA256>` per active secret of the
subscription, separated by spaces, so receivers can rotate secrets without a gap.
"""

import logging
from datetime import UTC, datetime

import orjson
from django.conf import settings
from standardwebhooks import Webhook

from apps.core.consumers import ReceivedMessage
from apps.core.errors import PermanentError, RetryableError
from apps.delivery import transport
from apps.delivery.models import Delivery, DeliveryAttempt
from apps.topology.models import Subscription
from apps.topology.webhook_secrets import webhook_secret_is_valid

logger = logging.getLogger(__name__)


def webhook_body(*, message: ReceivedMessage) -> bytes:
    """Serialize what a webhook receives, once: the signed bytes are the sent bytes."""
    return orjson.dumps(
        {
            "id": message.id,
            "topic": message.topic,
            "payload": message.payload,
            "attributes": message.attributes,
            "key": message.key,
            "published_at": message.published_at.isoformat(),
            "attempt": message.attempt,
        }
    )


def webhook_signature_headers(*, msg_id: str, body: bytes, secrets: list[str], timestamp: int) -> dict[str, str]:
    """Return the Standard Webhooks headers for `body`, signed with every secret.

    Raise ValueError if a secret is malformed (the loader checks them; the admin may not).
    """
    if not secrets:
        raise ValueError("no signing secrets")
    signed_at = datetime.fromtimestamp(timestamp, UTC)
    signatures = []
    for position, secret in enumerate(secrets, start=1):
        if not webhook_secret_is_valid(secret):
            raise ValueError(f"signing secret {position} is malformed")
        signatures.append(Webhook(secret).sign(msg_id, signed_at, body.decode("utf-8")))
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def webhook_deliver(*, subscription: Subscription, message: ReceivedMessage) -> None:
    """POST one message to the subscription's URL, signed, and record the attempt.

    Return on a 2xx. Raise RetryableError for a failure that may pass: 408, 429, 5xx,
    network errors (with `retry_after` in seconds when the receiver sent Retry-After);
    raise PermanentError for anything else: other 4xx, a redirect, a refused address, a
    subscription without valid secrets.
    """
    delivery_id = Delivery.objects.values_list("pk", flat=True).get(
        message_id=message.id, subscription_id=subscription.pk
    )
    now = datetime.now(UTC)
    body = webhook_body(message=message)
    try:
        headers = webhook_signature_headers(
            msg_id=message.id, body=body, secrets=subscription.webhook_secrets, timestamp=int(now.timestamp())
        )
    except ValueError as exc:
        error = f"subscription {subscription.name} cannot sign webhooks: {exc}; set its secrets_env in topology.yaml"
        result = transport.WebhookResult(
            outcome=transport.Outcome.PERMANENT, started_at=now, duration_ms=0, error=error
        )
    else:
        result = transport.webhook_post(
            url=subscription.webhook_url,
            body=body,
            headers=headers,
            connect_timeout=settings.SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT,
            read_timeout=settings.SWITCHBOARD_WEBHOOK_READ_TIMEOUT,
            allowed_hosts=settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS,
        )
    DeliveryAttempt.objects.create(
        delivery_id=delivery_id,
        attempt=message.attempt,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        outcome=result.outcome.value,
        error=result.error,
        response_body=result.response_body,
    )
    if result.outcome == transport.Outcome.SUCCESS:
        return
    logger.info(
        "Webhook %s attempt %s for message %s failed (%s): %s",
        subscription.name,
        message.attempt,
        message.id,
        result.outcome,
        result.error,
    )
    if result.outcome == transport.Outcome.PERMANENT:
        raise PermanentError(result.error)
    raise RetryableError(result.error, retry_after=result.retry_after)
