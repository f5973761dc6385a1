"""Tests for topology over REST: topics and subscriptions created, changed and deleted with the
file's validation and effect, subscription statistics, and the YAML export."""

import base64
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.redis import redis_client
from apps.delivery.models import Delivery, DeliveryState
from apps.topology import services
from apps.topology.loader import topology_parse
from apps.topology.models import Subscription, Topic
from tests.factories import DeliveryFactory, MessageFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def workers_silent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record pause/resume broadcasts instead of asking workers (none run here)."""
    calls: list[tuple[str, str]] = []

    def recorder(action: str) -> Callable[..., int]:
        def record(*, queue: str) -> int:
            calls.append((action, queue))
            return 0

        return record

    monkeypatch.setattr(services.workers, "workers_stop_consuming", recorder("stop"))
    monkeypatch.setattr(services.workers, "workers_start_consuming", recorder("start"))
    return calls


def body(response: Any) -> Any:
    return orjson.loads(response.content)


def test_a_topic_is_created_listed_changed_and_deleted(authenticated_client: APIClient) -> None:
    created = authenticated_client.post("/api/v1/topics", {"name": "orders.created"}, format="json")
    assert created.status_code == 201, created.content
    assert {k: body(created)[k] for k in ("name", "description", "unroutable", "subscriptions")} == {
        "name": "orders.created",
        "description": "",
        "unroutable": "drop",
        "subscriptions": [],
    }

    changed = authenticated_client.patch(
        "/api/v1/topics/orders.created", {"unroutable": "dead_letter", "description": "Orders"}, format="json"
    )
    assert changed.status_code == 200
    assert (body(changed)["unroutable"], body(changed)["description"]) == ("dead_letter", "Orders")
    assert [t["name"] for t in body(authenticated_client.get("/api/v1/topics"))] == ["orders.created"]

    assert authenticated_client.delete("/api/v1/topics/orders.created").status_code == 204
    assert Topic.objects.count() == 0


def test_a_retention_below_one_day_is_refused(authenticated_client: APIClient) -> None:
    response = authenticated_client.post(
        "/api/v1/topics", {"name": "orders.created", "retention_days": 0}, format="json"
    )
    assert (response.status_code, body(response)["errors"]) == (
        400,
        {"retention_days": ["0 is not a whole number of days from 1 to 36500"]},
    )


def test_an_invalid_topic_name_is_a_400_problem(authenticated_client: APIClient) -> None:
    response = authenticated_client.post("/api/v1/topics", {"name": "Orders Created"}, format="json")
    assert response.status_code == 400
    assert body(response)["type"] == "https://switchboard.dev/problems/invalid-topic"
    assert body(response)["errors"] == {
        "name": [
            "'Orders Created' is not a valid name: use lower-case letters, digits, '.', '_' and '-' (at most 100), "
            "starting with a letter or digit"
        ]
    }


def test_a_topic_with_subscriptions_or_messages_is_not_deleted(authenticated_client: APIClient) -> None:
    SubscriptionFactory.create(name="billing-charge", topic=TopicFactory.create(name="orders.created"))
    MessageFactory.create(topic=TopicFactory.create(name="orders.shipped"))

    kept = [authenticated_client.delete(f"/api/v1/topics/{t}") for t in ("orders.created", "orders.shipped")]

    assert [(r.status_code, body(r)["detail"]) for r in kept] == [
        (409, "Topic orders.created still has subscriptions (billing-charge); delete them first."),
        (409, "Topic orders.shipped still has messages; it cannot be deleted."),
    ]
    assert Topic.objects.count() == 2


def test_an_existing_name_is_a_409(authenticated_client: APIClient) -> None:
    TopicFactory.create(name="orders.created")
    response = authenticated_client.post("/api/v1/topics", {"name": "orders.created"}, format="json")
    assert (response.status_code, body(response)["detail"]) == (409, "A topic named 'orders.created' exists already.")


def test_a_subscription_is_created_with_the_files_defaults(authenticated_client: APIClient) -> None:
    TopicFactory.create(name="orders.created")

    response = authenticated_client.post(
        "/api/v1/subscriptions",
        {"name": "billing-charge", "topic": "orders.created", "filter_policy": {"region": [{"prefix": "eu-"}]}},
        format="json",
    )

    assert response.status_code == 201, response.content
    subscription = Subscription.objects.get(name="billing-charge")
    assert (subscription.handler, subscription.max_attempts, subscription.batch_size, subscription.paused) == (
        "billing-charge",
        5,
        1,
        False,
    )
    assert body(response)["filter_policy"] == {"region": [{"prefix": "eu-"}]}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"filter_policy": {"region": [{"prefix": 5}]}},
            {"filter_policy": ["region[0].prefix: expected a string, not number"]},
        ),
        ({"handler": "nope"}, {"handler": ["no consumer registered as 'nope'"]}),
        (
            {"max_attempts": 0, "batch_size": 5000},
            {
                "max_attempts": ["0 is less than the minimum of 1"],
                "batch_size": ["5000 is greater than the maximum of 1000"],
            },
        ),
        (
            {
                "consumer_kind": "webhook",
                "handler": "",
                "webhook_url": "http://192.168.1.20/hook",
                "webhook_secrets": [SECRET],
            },
            {"webhook_url": ["webhooks must not be sent to 192.168.1.20: it is a private address"]},
        ),
        ({"topic": "orders.nope"}, {"topic": ["There is no topic named 'orders.nope'."]}),
    ],
)
def test_an_invalid_subscription_is_a_400_naming_each_field(
    authenticated_client: APIClient, fields: dict[str, object], errors: dict[str, list[str]]
) -> None:
    TopicFactory.create(name="orders.created")

    response = authenticated_client.post(
        "/api/v1/subscriptions", {"name": "billing-charge", "topic": "orders.created", **fields}, format="json"
    )

    assert response.status_code == 400
    found = body(response)["errors"]
    assert {k: [m[: len(e)] for m, e in zip(found[k], v, strict=True)] for k, v in errors.items()} == errors
    assert set(found) == set(errors)
    assert Subscription.objects.count() == 0


def test_an_unknown_field_is_refused_by_name(authenticated_client: APIClient) -> None:
    TopicFactory.create(name="orders.created")
    response = authenticated_client.post(
        "/api/v1/subscriptions", {"name": "billing-charge", "topic": "orders.created", "retries": 3}, format="json"
    )
    assert (response.status_code, body(response)["errors"]) == (400, {"retries": ["Unknown field."]})


def test_a_subscription_update_is_validated_whole_and_pauses_through_the_service(
    authenticated_client: APIClient, workers_silent: list[tuple[str, str]]
) -> None:
    SubscriptionFactory.create(name="billing-charge", handler="billing-charge", retry_initial_delay=1.0)

    refused = authenticated_client.patch(
        "/api/v1/subscriptions/billing-charge", {"retry_max_delay": 0.5}, format="json"
    )
    paused = authenticated_client.patch(
        "/api/v1/subscriptions/billing-charge", {"paused": True, "max_attempts": 9}, format="json"
    )
    renamed = authenticated_client.patch("/api/v1/subscriptions/billing-charge", {"name": "other"}, format="json")

    assert (refused.status_code, body(refused)["errors"]) == (
        400,
        {"retry_max_delay": ["must not be below initial_delay"]},
    )
    assert paused.status_code == 200
    assert (body(paused)["paused"], body(paused)["max_attempts"]) == (True, 9)
    assert (renamed.status_code, body(renamed)["errors"]) == (400, {"name": ["Unknown field."]})
    subscription = Subscription.objects.get(name="billing-charge")
    assert (subscription.paused, subscription.max_attempts, subscription.retry_max_delay) == (True, 9, 300.0)
    assert workers_silent == [("stop", "sb.billing-charge")]


def test_a_subscription_is_deleted_with_its_deliveries(authenticated_client: APIClient) -> None:
    delivery = DeliveryFactory.create(subscription__name="billing-charge")

    response = authenticated_client.delete("/api/v1/subscriptions/billing-charge")

    assert response.status_code == 204
    assert (Subscription.objects.count(), Delivery.objects.filter(pk=delivery.pk).count()) == (0, 0)


@pytest.mark.usefixtures("celery_broker")
def test_statistics_count_deliveries_by_state_ages_and_rates(authenticated_client: APIClient) -> None:
    subscription = SubscriptionFactory.create(name="billing-charge")
    redis_client().rpush(subscription.queue, b"task-1", b"task-2")
    now = timezone.now()
    for state, count in (
        (DeliveryState.PENDING, 3),
        (DeliveryState.RETRYING, 1),
        (DeliveryState.DELIVERED, 10),
        (DeliveryState.DEAD, 2),
    ):
        for _ in range(count):
            DeliveryFactory.create(subscription=subscription, message__topic=subscription.topic, state=state)
    Delivery.objects.filter(state=DeliveryState.PENDING).update(created_at=now - timedelta(seconds=90), sent_at=None)
    Delivery.objects.filter(state=DeliveryState.RETRYING).update(sent_at=now, not_before=now + timedelta(minutes=1))
    Delivery.objects.filter(state=DeliveryState.DELIVERED).update(finished_at=now - timedelta(minutes=1))
    Delivery.objects.filter(state=DeliveryState.DEAD).update(finished_at=now - timedelta(hours=1))

    response = authenticated_client.get("/api/v1/subscriptions/billing-charge/stats")

    assert response.status_code == 200
    stats = body(response)
    age = stats.pop("oldest_open_age_seconds")
    assert 90 <= age < 120
    assert stats == {
        "subscription": "billing-charge",
        "paused": False,
        "deliveries": {"pending": 3, "retrying": 1, "delivered": 10, "dead": 2, "cancelled": 0},
        "outbox": 3,
        "delayed": 1,
        "queued": 2,
        "rates_per_minute": {"delivered": 2.0, "dead": 0.0},
        "consumers": None,  # no worker answers
    }


def test_the_export_is_synced_back_unchanged(authenticated_client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    call_command("sync_topology", verbosity=0)
    authenticated_client.post(
        "/api/v1/topics", {"name": "audit.events", "unroutable": "dead_letter", "retention_days": 90}, format="json"
    )
    created = authenticated_client.post(
        "/api/v1/subscriptions",
        {
            "name": "audit-archive",
            "topic": "audit.events",
            "consumer_kind": "webhook",
            "handler": "",
            "webhook_url": "https://archive.example.com/in",
            "webhook_secrets": [SECRET],
            "filter_policy": {"payload.kind": ["login", {"prefix": "admin."}]},
            "retry_jitter": 0.05,
            "batch_size": 10,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    Subscription.objects.filter(name="billing-charge").update(paused=True)

    response = authenticated_client.get("/api/v1/topology/export")

    assert (response.status_code, response["Content-Type"]) == (200, "application/yaml; charset=utf-8")
    text = response.content.decode()
    assert "secrets_env: AUDIT_ARCHIVE_WEBHOOK_SECRETS" in text
    assert Topic.objects.get(name="audit.events").retention_days == 90
    assert SECRET not in text
    environ = {**os.environ, "AUDIT_ARCHIVE_WEBHOOK_SECRETS": SECRET}
    report = services.topology_sync(spec=topology_parse(text, environ=environ))
    assert (report.created, report.updated, report.not_declared) == ([], [], [])
    assert len(report.unchanged) == Topic.objects.count() + Subscription.objects.count()
