"""Webhook consumers with real processes: gunicorn (serving the API and the demo receiver),
a private Redis, a celery worker and the relay.

Messages are published over HTTP; the worker POSTs them, signed, to the demo receiver
inside gunicorn. The oracle is what the receiver recorded (DemoEmail rows) and
Switchboard's own ledger (Delivery and DeliveryAttempt rows).
"""

import base64

import httpx
import pytest

from apps.deadletters.models import DeadLetter
from apps.delivery.models import Delivery, DeliveryAttempt, DeliveryState
from apps.demo.models import DemoEmail
from apps.topology.models import ConsumerKind, Subscription, Topic
from tests.harness.processes import wait_until
from tests.harness.stack import Stack, WebServer
from tests.system.api import publish

SECRET_NEW = "whsec_" + base64.b64encode(b"new-secret-for-system-tests-0001").decode()
SECRET_OLD = "whsec_" + base64.b64encode(b"old-secret-for-system-tests-0002").decode()


@pytest.fixture(autouse=True)
def _signing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switchboard signs with two secrets (a rotation under way); see `web` for the receiver's."""
    monkeypatch.setenv("SWITCHBOARD_DEMO_WEBHOOK_SECRETS", f"{SECRET_NEW} {SECRET_OLD}")


@pytest.fixture
def web(stack: Stack, demo_topology: None) -> WebServer:
    """Start gunicorn, whose receiver knows only the old secret, and point email-send at it."""
    web = stack.start_web(SWITCHBOARD_DEMO_WEBHOOK_SECRETS=SECRET_OLD)
    Subscription.objects.filter(name="email-send").update(webhook_url=f"{web.base_url}/demo/receiver/")
    return web


def delivery_of(message_id: str, subscription: str) -> Delivery:
    return Delivery.objects.get(message_id=message_id, subscription__name=subscription)


def finished(message_id: str, subscription: str) -> bool:
    return delivery_of(message_id, subscription).state in (DeliveryState.DELIVERED, DeliveryState.DEAD)


def attempts_of(delivery: Delivery) -> list[tuple[int, int | None, str, str]]:
    return [
        (a.attempt, a.status_code, a.error, a.response_body) for a in DeliveryAttempt.objects.filter(delivery=delivery)
    ]


def test_an_order_with_an_email_is_delivered_once_to_the_receiver(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker(SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    message_id = publish(client, {"order_id": "W-1", "total": "5", "email": "ann@example.com"})

    wait_until(lambda: finished(message_id, "email-send"), timeout=30, what="email-send to finish")

    delivery = delivery_of(message_id, "email-send")
    assert (delivery.state, delivery.attempts, delivery.last_error) == (DeliveryState.DELIVERED, 1, "")
    assert attempts_of(delivery) == [(1, 204, "", "")]
    email = DemoEmail.objects.get()
    assert (str(email.message_id), email.order_id, email.to) == (message_id, "W-1", "ann@example.com")
    print(f"published=1 emails={DemoEmail.objects.count()} attempts={DeliveryAttempt.objects.count()}")


def test_a_receiver_failing_twice_is_retried_until_it_accepts(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker(SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    stack.start_relay()
    message_id = publish(
        client, {"order_id": "W-2", "email": "bob@example.com", "simulate_email": {"status": 503, "times": 2}}
    )

    wait_until(lambda: finished(message_id, "email-send"), timeout=30, what="email-send to finish")

    delivery = delivery_of(message_id, "email-send")
    assert (delivery.state, delivery.attempts, delivery.last_error) == (DeliveryState.DELIVERED, 3, "")
    assert attempts_of(delivery) == [
        (1, 503, "HTTP 503 (retryable)", '{"detail": "Simulated failure 1 of 2."}'),
        (2, 503, "HTTP 503 (retryable)", '{"detail": "Simulated failure 2 of 2."}'),
        (3, 204, "", ""),
    ]
    email = DemoEmail.objects.get()
    assert (str(email.message_id), email.order_id) == (message_id, "W-2")


def test_a_400_answer_dead_letters_after_one_attempt(stack: Stack, client: httpx.Client, web: WebServer) -> None:
    # Orders without an email reach this subscription; the receiver answers them 400.
    Subscription.objects.create(
        name="audit-hook",
        topic=Topic.objects.get(name="orders.created"),
        consumer_kind=ConsumerKind.WEBHOOK,
        webhook_url=f"{web.base_url}/demo/receiver/",
        webhook_secrets=[SECRET_OLD],
        filter_policy={"payload.email": [{"exists": False}]},
        retry_initial_delay=0.2,
        retry_max_delay=0.2,
    )
    stack.start_worker(SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    stack.start_relay()
    message_id = publish(client, {"order_id": "W-3", "total": "5"})

    wait_until(lambda: finished(message_id, "audit-hook"), timeout=30, what="audit-hook to finish")

    delivery = delivery_of(message_id, "audit-hook")
    assert (delivery.state, delivery.attempts) == (DeliveryState.DEAD, 1)
    assert attempts_of(delivery) == [
        (
            1,
            400,
            "HTTP 400 (permanent: 4xx other than 408 and 429 is not retried)",
            '{"detail": "An order email needs payload.email, an email address."}',
        )
    ]
    dead_letter = DeadLetter.objects.get(delivery=delivery)
    assert (dead_letter.reason, dead_letter.attempts) == ("permanent", 1)
    assert not Delivery.objects.filter(message_id=message_id, subscription__name="email-send").exists()
    assert DemoEmail.objects.count() == 0


def test_a_worker_without_the_allowlist_refuses_loopback(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker(SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS="hooks.example.com")
    message_id = publish(client, {"order_id": "W-4", "email": "eve@example.com"})

    wait_until(lambda: finished(message_id, "email-send"), timeout=30, what="email-send to finish")

    delivery = delivery_of(message_id, "email-send")
    assert (delivery.state, delivery.attempts) == (DeliveryState.DEAD, 1)
    error = (
        "refused to send a webhook to 127.0.0.1: it is a loopback address; "
        "add '127.0.0.1' to SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS to allow it"
    )
    assert attempts_of(delivery) == [(1, None, error, "")]
    assert DemoEmail.objects.count() == 0  # a request that reached the receiver would have made one
