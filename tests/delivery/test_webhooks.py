"""Tests for apps.delivery.webhooks (sign, send, record), webhook subscriptions in
topology.yaml, and the demo receiver that verifies what Switchboard sends.

HTTP goes to a real server on 127.0.0.1 (tests.delivery.test_transport.LocalServer).
"""

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from apps.core import redis_keys
from apps.core.consumers import ReceivedMessage, consumer_get
from apps.core.errors import PermanentError, RetryableError
from apps.core.redis import redis_client
from apps.deadletters.models import DeadLetter
from apps.delivery import attempts, consumers, scheduler, webhooks
from apps.delivery.models import Delivery, DeliveryAttempt, DeliveryState
from apps.demo.models import DemoEmail
from apps.demo.services import DEMO_SECRETS_ENV
from apps.topology.loader import TopologyError, topology_parse
from apps.topology.models import ConsumerKind
from apps.topology.webhook_secrets import webhook_secret_is_valid
from tests.delivery.test_transport import LocalServer, Reply
from tests.factories import DeliveryFactory, MessageFactory, SubscriptionFactory

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 24).decode()
SECRET_OTHER = "whsec_" + base64.b64encode(b"c" * 32).decode()
MESSAGE_ID = "01a2249d-bb0f-7e32-b5ea-f15b3b696912"
PUBLISHED_AT = datetime(2026, 11, 29, 12, 30, 15, 123456, tzinfo=UTC)


def received(*, message_id: str = MESSAGE_ID, payload: Any = None, attempt: int = 1) -> ReceivedMessage:
    return ReceivedMessage(
        id=message_id,
        topic="orders.created",
        payload={"order_id": "42"} if payload is None else payload,
        attributes={"region": "eu"},
        key="customer-7",
        published_at=PUBLISHED_AT,
        subscription="email-send",
        attempt=attempt,
    )


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer().start()
    yield local
    local.stop()


# --- body and signature --------------------------------------------------------------


def test_body_holds_the_message_and_the_attempt() -> None:
    body = webhooks.webhook_body(message=received(attempt=3))

    assert json.loads(body) == {
        "id": MESSAGE_ID,
        "topic": "orders.created",
        "payload": {"order_id": "42"},
        "attributes": {"region": "eu"},
        "key": "customer-7",
        "published_at": "2026-11-29T12:30:15.123456+00:00",
        "attempt": 3,
    }


def test_the_verifier_accepts_the_signature_with_each_active_secret() -> None:
    body = webhooks.webhook_body(message=received())
    timestamp = int(datetime.now(UTC).timestamp())

    headers = webhooks.webhook_signature_headers(
        msg_id=MESSAGE_ID, body=body, secrets=[SECRET_A, SECRET_B], timestamp=timestamp
    )

    signed_at = datetime.fromtimestamp(timestamp, UTC)
    assert headers == {
        "Content-Type": "application/json",
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            Webhook(secret).sign(MESSAGE_ID, signed_at, body.decode()) for secret in (SECRET_A, SECRET_B)
        ),
    }
    assert [part.split(",")[0] for part in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    for secret in (SECRET_A, SECRET_B):
        assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_the_verifier_rejects_a_tampered_body_and_an_unknown_secret() -> None:
    body = webhooks.webhook_body(message=received())
    headers = webhooks.webhook_signature_headers(
        msg_id=MESSAGE_ID, body=body, secrets=[SECRET_A, SECRET_B], timestamp=int(datetime.now(UTC).timestamp())
    )
    tampered = body.replace(b'"attempt":1', b'"attempt":2')
    assert tampered != body

    for secret in (SECRET_A, SECRET_B):
        with pytest.raises(WebhookVerificationError, match="No matching signature found"):
            Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(SECRET_OTHER).verify(body, headers)


def test_signing_needs_a_valid_secret() -> None:
    with pytest.raises(ValueError) as no_secrets:
        webhooks.webhook_signature_headers(msg_id="m", body=b"{}", secrets=[], timestamp=0)
    with pytest.raises(ValueError) as malformed:
        webhooks.webhook_signature_headers(msg_id="m", body=b"{}", secrets=[SECRET_A, "whsec_%%%"], timestamp=0)

    assert (str(no_secrets.value), str(malformed.value)) == ("no signing secrets", "signing secret 2 is malformed")


@pytest.mark.parametrize(
    ("secret", "valid"),
    [
        (SECRET_A, True),
        (SECRET_B, True),
        (SECRET_A.rstrip("="), True),  # unpadded base64, as some providers print it
        ("whsec_" + base64.b64encode(b"x" * 64).decode(), True),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), False),  # too short
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), False),  # too long
        (base64.b64encode(b"a" * 32).decode(), False),  # no prefix
        ("whsec_not base64!", False),
        ("whsec_", False),
    ],
)
def test_webhook_secret_is_valid(secret: str, valid: bool) -> None:
    assert webhook_secret_is_valid(secret) is valid


# --- webhook_deliver: send and record --------------------------------------------------


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.SWITCHBOARD_WEBHOOK_READ_TIMEOUT = 5.0


def webhook_delivery(url: str, *, secrets: list[str] | None = None) -> Delivery:
    subscription = SubscriptionFactory.create(
        name="email-send",
        consumer_kind=ConsumerKind.WEBHOOK,
        handler="",
        webhook_url=url,
        webhook_secrets=[SECRET_A, SECRET_B] if secrets is None else secrets,
    )
    message = MessageFactory.create(topic=subscription.topic, payload={"order_id": "42", "email": "a@example.com"})
    return DeliveryFactory.create(message=message, subscription=subscription)


def deliver_first_attempt(delivery: Delivery) -> None:
    webhooks.webhook_deliver(
        subscription=delivery.subscription, message=consumers.received_message(delivery, attempt=1)
    )


def assert_refused_without_sending(delivery: Delivery, server: LocalServer, error: str) -> None:
    """The first attempt fails permanently with `error`, is recorded, and no request reached the server."""
    with pytest.raises(PermanentError) as info:
        deliver_first_attempt(delivery)

    assert str(info.value) == error
    assert attempts_of(delivery) == [(1, None, error, "")]
    assert server.requests == []


def attempts_of(delivery: Delivery) -> list[tuple[int, int | None, str, str]]:
    return [
        (a.attempt, a.status_code, a.error, a.response_body) for a in DeliveryAttempt.objects.filter(delivery=delivery)
    ]


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback")
def test_deliver_posts_a_signed_body_and_records_the_attempt(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=204)
    delivery = webhook_delivery(server.url("/hook"))

    webhooks.webhook_deliver(
        subscription=delivery.subscription, message=consumers.received_message(delivery, attempt=2)
    )

    [request] = server.requests
    assert json.loads(request.body)["attempt"] == 2
    for secret in (SECRET_A, SECRET_B):
        verified = Webhook(secret).verify(request.body, request.headers)
        assert (verified["id"], verified["payload"]) == (str(delivery.message_id), delivery.message.payload)
    assert request.headers["webhook-id"] == str(delivery.message_id)
    assert attempts_of(delivery) == [(2, 204, "", "")]
    row = DeliveryAttempt.objects.get()
    assert row.started_at <= datetime.now(UTC)
    assert row.duration_ms >= 0


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback")
def test_deliver_raises_retryable_with_the_receivers_retry_after(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=503, headers={"Retry-After": "7"}, body=b"maintenance")
    delivery = webhook_delivery(server.url("/hook"))

    with pytest.raises(RetryableError) as info:
        deliver_first_attempt(delivery)

    assert (str(info.value), info.value.retry_after) == ("HTTP 503 (retryable); Retry-After 7 s", 7.0)
    assert attempts_of(delivery) == [(1, 503, "HTTP 503 (retryable); Retry-After 7 s", "maintenance")]


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback")
def test_deliver_raises_retryable_without_retry_after(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=500)
    delivery = webhook_delivery(server.url("/hook"))

    with pytest.raises(RetryableError) as info:
        deliver_first_attempt(delivery)

    assert (str(info.value), info.value.retry_after) == ("HTTP 500 (retryable)", None)
    assert attempts_of(delivery) == [(1, 500, "HTTP 500 (retryable)", "")]


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback")
def test_deliver_raises_permanent_for_a_client_error(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=410, body=b"gone")
    delivery = webhook_delivery(server.url("/hook"))

    with pytest.raises(PermanentError, match=r"^HTTP 410 \(permanent"):
        deliver_first_attempt(delivery)

    assert attempts_of(delivery) == [
        (1, 410, "HTTP 410 (permanent: 4xx other than 408 and 429 is not retried)", "gone")
    ]


@pytest.mark.django_db
def test_deliver_refuses_loopback_unless_allowlisted(server: LocalServer, settings: Any) -> None:
    settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS = []
    delivery = webhook_delivery(server.url("/hook"))
    error = (
        "refused to send a webhook to 127.0.0.1: it is a loopback address; "
        "add '127.0.0.1' to SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS to allow it"
    )

    assert_refused_without_sending(delivery, server, error)


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback")
def test_deliver_without_secrets_is_permanent_and_sends_nothing(server: LocalServer) -> None:
    delivery = webhook_delivery(server.url("/hook"), secrets=[])
    error = "subscription email-send cannot sign webhooks: no signing secrets; set its secrets_env in topology.yaml"

    assert_refused_without_sending(delivery, server, error)


# --- through delivery_attempt -----------------------------------------------------------


@pytest.mark.django_db
def test_a_webhook_subscription_gets_a_non_transactional_consumer() -> None:
    delivery = webhook_delivery("https://hooks.example.com/orders")

    consumer = consumers.consumer_for(delivery.subscription)

    assert (consumer.name, consumer.transactional, consumer.retry_for) == ("email-send", False, (RetryableError,))
    python = SubscriptionFactory.create(handler="inventory-reserve")
    assert consumers.consumer_for(python) == consumer_get("inventory-reserve")


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback", "private_redis")
def test_delivery_attempt_delivers_a_webhook_once(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=200, body=b"ok")
    delivery = webhook_delivery(server.url("/hook"))

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DELIVERED
    assert attempts.delivery_attempt(delivery_id=delivery.pk) == "duplicate"

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (DeliveryState.DELIVERED, 1, "")
    assert attempts_of(delivery) == [(1, 200, "", "ok")]
    assert len(server.requests) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback", "private_redis")
def test_delivery_attempt_dead_letters_a_4xx_at_once(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=400, body=b"bad order")
    delivery = webhook_delivery(server.url("/hook"))

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DEAD

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DEAD, 1)
    assert delivery.last_error.endswith(
        "apps.core.errors.PermanentError: HTTP 400 (permanent: 4xx other than 408 and 429 is not retried)\n"
    )
    dead_letter = DeadLetter.objects.get()
    assert (dead_letter.delivery_id, dead_letter.reason, dead_letter.attempts) == (delivery.pk, "permanent", 1)
    assert attempts_of(delivery) == [
        (1, 400, "HTTP 400 (permanent: 4xx other than 408 and 429 is not retried)", "bad order")
    ]


@pytest.mark.django_db
@pytest.mark.usefixtures("allow_loopback", "private_redis")
def test_delivery_attempt_waits_at_least_the_receivers_retry_after(server: LocalServer) -> None:
    server.replies["/hook"] = Reply(status=429, headers={"Retry-After": "120"})
    delivery = webhook_delivery(server.url("/hook"))
    before = time.time()

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.RETRYING

    scheduled: list[tuple[bytes, float]] = redis_client().zrange(  # type: ignore[assignment]
        redis_keys.SCHEDULED, 0, -1, withscores=True
    )
    [(member, due)] = scheduled
    assert scheduler.ScheduledDelivery.decode(member) == scheduler.ScheduledDelivery(
        queue="sb.email-send", delivery_id=delivery.pk
    )
    assert before + 120 <= due <= time.time() + 120  # the backoff alone would be 1 s
    assert attempts_of(delivery) == [(1, 429, "HTTP 429 (retryable); Retry-After 120 s", "")]


# --- topology.yaml: url and secrets_env -------------------------------------------------

WEBHOOK_DOC = "topics: [{name: orders.created}]\nsubscriptions:\n  - {name: audit-hook, topic: orders.created, %s}\n"


def problems_of(text: str, environ: dict[str, str]) -> list[str]:
    with pytest.raises(TopologyError) as info:
        topology_parse(text, environ=environ)
    return info.value.problems


def test_topology_reads_secrets_and_expands_the_url_from_the_environment() -> None:
    text = WEBHOOK_DOC % (
        'consumer: webhook, url: "http://${HOOK_HOST}:${PORT:-8000}/hook", secrets_env: AUDIT_HOOK_SECRETS'
    )

    [spec] = topology_parse(
        text, environ={"HOOK_HOST": "hooks.example.com", "AUDIT_HOOK_SECRETS": f" {SECRET_A}  {SECRET_B} "}
    ).subscriptions

    assert (spec.consumer_kind, spec.webhook_url, spec.webhook_secrets) == (
        "webhook",
        "http://hooks.example.com:8000/hook",
        [SECRET_A, SECRET_B],
    )
    assert SECRET_A not in repr(spec)


@pytest.mark.parametrize(
    ("fields", "environ", "problems"),
    [
        (
            "consumer: webhook, url: https://hooks.example.com/",
            {},
            [
                "subscriptions[0] (audit-hook).secrets_env: a webhook subscription needs secrets_env, "
                "the environment variable that holds its signing secrets"
            ],
        ),
        (
            "consumer: webhook, url: https://hooks.example.com/, secrets_env: AUDIT_HOOK_SECRETS",
            {"AUDIT_HOOK_SECRETS": "  "},
            [
                "subscriptions[0] (audit-hook).secrets_env: environment variable AUDIT_HOOK_SECRETS is not set "
                "or empty; it must hold space-separated signing secrets (whsec_...)"
            ],
        ),
        (
            "consumer: webhook, url: https://hooks.example.com/, secrets_env: AUDIT_HOOK_SECRETS",
            {"AUDIT_HOOK_SECRETS": f"{SECRET_A} whsec_short hunter2"},
            [
                "subscriptions[0] (audit-hook).secrets_env: secret 2 in AUDIT_HOOK_SECRETS is malformed; "
                "expected whsec_ and the base64 of 24 to 64 random bytes",
                "subscriptions[0] (audit-hook).secrets_env: secret 3 in AUDIT_HOOK_SECRETS is malformed; "
                "expected whsec_ and the base64 of 24 to 64 random bytes",
            ],
        ),
        (
            'consumer: webhook, url: "https://${HOOK_HOST}/", secrets_env: AUDIT_HOOK_SECRETS',
            {"AUDIT_HOOK_SECRETS": SECRET_A},
            [
                "subscriptions[0] (audit-hook).url: environment variable HOOK_HOST is not set; "
                "set it or write ${HOOK_HOST:-default}"
            ],
        ),
        (
            "handler: inventory-reserve, url: https://hooks.example.com/, secrets_env: AUDIT_HOOK_SECRETS",
            {"AUDIT_HOOK_SECRETS": SECRET_A},
            [
                "subscriptions[0] (audit-hook).url: only a webhook subscription takes url",
                "subscriptions[0] (audit-hook).secrets_env: only a webhook subscription takes secrets_env",
            ],
        ),
        (
            "consumer: webhook, url: https://hooks.example.com/, secrets_env: not-a-name",
            {},
            ["subscriptions[0] (audit-hook).secrets_env: 'not-a-name' does not match '^[A-Za-z_][A-Za-z0-9_]*$'"],
        ),
    ],
)
def test_topology_names_entry_and_field_of_webhook_problems(
    fields: str, environ: dict[str, str], problems: list[str]
) -> None:
    assert problems_of(WEBHOOK_DOC % fields, environ) == problems


# --- the demo receiver ------------------------------------------------------------------


def signed_post(client: Client, event: dict[str, Any], *, secrets: list[str], timestamp: int | None = None) -> Any:
    body = json.dumps(event).encode()
    headers = webhooks.webhook_signature_headers(
        msg_id=event["id"],
        body=body,
        secrets=secrets,
        timestamp=int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp,
    )
    return client.post("/demo/receiver/", data=body, content_type="application/json", headers=headers)


def order_event(*, attempt: int = 1, **payload: Any) -> dict[str, Any]:
    return {
        "id": MESSAGE_ID,
        "topic": "orders.created",
        "payload": {"order_id": "42", "email": "ann@example.com", **payload},
        "attributes": {},
        "key": "",
        "published_at": PUBLISHED_AT.isoformat(),
        "attempt": attempt,
    }


@pytest.fixture
def receiver_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver holds a new and an old secret, as during a rotation."""
    monkeypatch.setenv(DEMO_SECRETS_ENV, f"{SECRET_B} {SECRET_A}")


@pytest.mark.django_db
@pytest.mark.usefixtures("receiver_secrets")
def test_receiver_records_one_email_per_message(client: Client) -> None:
    first = signed_post(client, order_event(), secrets=[SECRET_A])
    again = signed_post(client, order_event(attempt=2), secrets=[SECRET_B])

    assert (first.status_code, again.status_code) == (204, 204)
    email = DemoEmail.objects.get()
    assert (str(email.message_id), email.order_id, email.to) == (MESSAGE_ID, "42", "ann@example.com")


@pytest.mark.django_db
@pytest.mark.usefixtures("receiver_secrets")
def test_receiver_rejects_bad_signatures_with_401(client: Client) -> None:
    body = json.dumps(order_event()).encode()
    now = int(datetime.now(UTC).timestamp())
    good = webhooks.webhook_signature_headers(msg_id=MESSAGE_ID, body=body, secrets=[SECRET_A], timestamp=now)
    cases = [
        signed_post(client, order_event(), secrets=[SECRET_OTHER]),
        signed_post(client, order_event(), secrets=[SECRET_A], timestamp=now - 3600),  # replayed later
        client.post("/demo/receiver/", data=body.replace(b"42", b"43"), content_type="application/json", headers=good),
        client.post("/demo/receiver/", data=body, content_type="application/json"),
        client.post(
            "/demo/receiver/",
            data=body,
            content_type="application/json",
            headers={**good, "webhook-signature": "garbage"},
        ),
    ]

    assert [(r.status_code, r.json()) for r in cases] == [
        (401, {"detail": "The webhook signature does not verify."})
    ] * 5
    assert DemoEmail.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("receiver_secrets")
def test_receiver_answers_400_to_an_order_without_email(client: Client) -> None:
    event = order_event()
    del event["payload"]["email"]

    response = signed_post(client, event, secrets=[SECRET_A])

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "An order email needs payload.email, an email address."},
    )
    assert DemoEmail.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("receiver_secrets")
def test_receiver_simulates_failures_by_attempt(client: Client) -> None:
    simulate = {"status": 503, "times": 2, "retry_after": 1}

    answers = [
        signed_post(client, order_event(attempt=n, simulate_email=simulate), secrets=[SECRET_A]) for n in (1, 2, 3)
    ]

    assert [(r.status_code, r.headers.get("Retry-After")) for r in answers] == [(503, "1"), (503, "1"), (204, None)]
    assert DemoEmail.objects.count() == 1
