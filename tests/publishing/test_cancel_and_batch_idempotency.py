"""Cancel a message (POST /api/v1/messages/{id}/cancel) and Idempotency-Key on the batch endpoint."""

from typing import Any

import orjson
import pytest
from rest_framework.test import APIClient

from apps.accounts.models import AuditEvent
from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.delivery import ledger, scheduler
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import IdempotencyKey, Message
from apps.publishing.services import publish
from apps.topology.models import Topic

pytestmark = pytest.mark.django_db

BATCH_URL = "/api/v1/topics/orders.created/messages/batch"


def post_json(client: APIClient, url: str, body: Any = None, **headers: Any) -> Any:
    return client.post(url, data=orjson.dumps(body), content_type="application/json", **headers)


def states(message: Message) -> dict[str, str]:
    return dict(Delivery.objects.filter(message=message).values_list("subscription__name", "state"))


def test_cancel_turns_the_open_deliveries_cancelled_and_reports_each(
    authenticated_client: APIClient, orders_topic: Topic, private_redis: str
) -> None:
    message = publish(topic="orders.created", payload={}, delay_seconds=3600)
    billing = Delivery.objects.get(message=message, subscription__name="billing-charge")
    assert ledger.delivery_mark_delivered(delivery_id=billing.pk, subscription="billing-charge", attempt=1)
    inventory = Delivery.objects.get(message=message, subscription__name="inventory-reserve")
    rds = redis_client()
    scheduler.schedule(rds, [(scheduler.ScheduledDelivery("sb.inventory-reserve", inventory.pk), 1e10)])

    response = post_json(authenticated_client, f"/api/v1/messages/{message.pk}/cancel")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(message.pk),
        "cancelled": 1,
        "deliveries": [
            {"subscription": "inventory-reserve", "outcome": "cancelled", "state": "cancelled"},
            {"subscription": "billing-charge", "outcome": "finished", "state": "delivered"},
        ][:: 1 if inventory.pk < billing.pk else -1],
    }
    assert states(message) == {"billing-charge": "delivered", "inventory-reserve": "cancelled"}
    assert rds.zcard(redis_keys.SCHEDULED) == 0
    [audited] = AuditEvent.objects.filter(action="message.cancel")
    assert (audited.actor_kind, audited.count, audited.targets) == (
        "api_key",
        1,
        {"message": str(message.pk), "deliveries": [inventory.pk]},
    )
    again = post_json(authenticated_client, f"/api/v1/messages/{message.pk}/cancel").json()
    assert again["cancelled"] == 0
    assert list(AuditEvent.objects.filter(action="message.cancel").order_by("pk").values_list("count", flat=True)) == [
        1,
        0,
    ]
    assert {d["subscription"]: (d["outcome"], d["state"]) for d in again["deliveries"]} == {
        "inventory-reserve": ("finished", "cancelled"),
        "billing-charge": ("finished", "delivered"),
    }


def test_a_running_delivery_is_left_to_its_attempt_and_reported_running(
    authenticated_client: APIClient, orders_topic: Topic, private_redis: str
) -> None:
    message = publish(topic="orders.created", payload={})
    inventory = Delivery.objects.get(message=message, subscription__name="inventory-reserve")
    member = scheduler.ScheduledDelivery("sb.inventory-reserve", inventory.pk).encode()
    redis_client().zadd(redis_keys.RUNNING, {member: 1e10})  # its lease is held

    body = post_json(authenticated_client, f"/api/v1/messages/{message.pk}/cancel").json()

    assert {d["subscription"]: (d["outcome"], d["state"]) for d in body["deliveries"]} == {
        "inventory-reserve": ("running", "pending"),
        "billing-charge": ("cancelled", "cancelled"),
    }
    assert states(message) == {"inventory-reserve": "pending", "billing-charge": "cancelled"}


def test_a_cancelled_delivery_never_records_an_outcome_afterwards(orders_topic: Topic) -> None:
    message = publish(topic="orders.created", payload={})
    delivery = Delivery.objects.filter(message=message).first()
    assert delivery is not None
    assert ledger.delivery_mark_cancelled(delivery_id=delivery.pk)

    assert not ledger.delivery_mark_delivered(delivery_id=delivery.pk, subscription="x", attempt=1)
    assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.CANCELLED


def test_cancel_of_an_unknown_message_is_a_404_problem(authenticated_client: APIClient) -> None:
    response = post_json(authenticated_client, "/api/v1/messages/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/cancel")

    assert response.status_code == 404
    assert response.json()["title"] == "Unknown message"


BATCH = {"messages": [{"payload": {"n": 1}}, {"payload": {"n": 2}}, {"attributes": "bad"}]}


def test_a_repeated_batch_with_the_same_key_answers_the_first_response_and_publishes_nothing(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    first = post_json(authenticated_client, BATCH_URL, BATCH, HTTP_IDEMPOTENCY_KEY="batch-1")
    repeat = post_json(authenticated_client, BATCH_URL, BATCH, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert (first.status_code, repeat.status_code) == (202, 202)
    assert (first.json()["accepted"], first.json()["failed"]) == (2, 1)
    assert repeat.json() == first.json()
    assert "Idempotent-Replayed" not in first
    assert repeat["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 2
    assert IdempotencyKey.objects.get().state == "completed"


def test_a_batch_key_reused_with_another_batch_is_a_422_problem(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    post_json(authenticated_client, BATCH_URL, BATCH, HTTP_IDEMPOTENCY_KEY="batch-1")
    changed = post_json(authenticated_client, BATCH_URL, {"messages": [{"payload": 3}]}, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert changed.status_code == 422
    assert changed.json()["title"] == "Idempotency key reused"
    assert Message.objects.count() == 2


def test_a_batch_refused_whole_leaves_its_key_free(authenticated_client: APIClient) -> None:
    unknown_topic = post_json(
        authenticated_client, "/api/v1/topics/nope/messages/batch", BATCH, HTTP_IDEMPOTENCY_KEY="batch-1"
    )

    assert unknown_topic.status_code == 404
    assert IdempotencyKey.objects.count() == 0
