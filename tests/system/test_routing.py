"""Routing with real processes: competing consumers, batch publish, batched delivery, pause."""

from typing import Any

import httpx

from apps.core import redis_keys
from apps.delivery.models import Delivery, DeliveryState
from apps.demo.models import BillingCharge, InventoryReservation, VatAssessment
from apps.topology.models import Subscription
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import ORDERS, orders, publish, publish_batch
from tests.system.oracle import charged_ids, nothing_open, reserved_ids, tasks_succeeded

ORDERS_BATCH = f"{ORDERS}/batch"
# Short enough that messages held by a SIGKILLed worker come back within the test.
FAST_RECOVERY: dict[str, Any] = {
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "6",
    "CELERY_TASK_TIME_LIMIT": "5",
    "CELERY_TASK_SOFT_TIME_LIMIT": "4",
    "SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT": "1",
    "SWITCHBOARD_WEBHOOK_READ_TIMEOUT": "2",
}


def test_batch_publish_answers_each_item_in_order(client: httpx.Client) -> None:
    body = {
        "messages": [
            {"payload": {"order_id": "B-1"}},
            {"payload": {"order_id": "B-2"}, "attributes": {"region": 3}},
            {"attributes": {"region": "eu"}},
            {"payload": {"order_id": "B-4"}, "key": "customer-9"},
        ]
    }
    response = client.post(ORDERS_BATCH, json=body)

    assert response.status_code == 202
    results = response.json()["results"]
    assert [sorted(r) for r in results] == [["id", "published_at"], ["error"], ["error"], ["id", "published_at"]]
    assert results[1]["error"]["status"] == 400
    assert results[1]["error"]["errors"] == {"attributes": {"region": ["Must be a string, not int."]}}
    assert results[2]["error"]["errors"] == {"payload": ["This field is required."]}
    assert (response.json()["accepted"], response.json()["failed"]) == (2, 2)
    assert Delivery.objects.count() == 4
    too_many = client.post(ORDERS_BATCH, json={"messages": [{"payload": n} for n in range(501)]})
    assert too_many.status_code == 400
    assert too_many.headers["content-type"] == "application/problem+json"


def test_competing_workers_each_message_handled_by_exactly_one(stack: Stack, client: httpx.Client) -> None:
    Subscription.objects.filter(name="billing-charge").delete()
    published = publish_batch(client, orders(300, "C", work_seconds=0.01))
    for _ in range(3):
        stack.start_worker(concurrency=1, queues=[redis_keys.subscription_queue("inventory-reserve")])

    wait_until(nothing_open, timeout=120, what="all deliveries to finish")

    per_worker = [tasks_succeeded(worker) for worker in stack.of_kind("worker")]
    handled = InventoryReservation.objects.count()
    print(f"published={len(published)} handled={handled} per_worker={per_worker} lost={len(published) - handled}")
    assert handled == 300
    assert reserved_ids() == sorted(published)
    assert sum(per_worker) == 300
    assert all(n > 0 for n in per_worker)
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 300


def test_batched_delivery_survives_a_worker_killed_mid_batch(stack: Stack, client: httpx.Client) -> None:
    Subscription.objects.filter(name="inventory-reserve").update(batch_size=25)
    Subscription.objects.filter(name="billing-charge").delete()
    published = publish_batch(client, orders(200, "K", work_seconds=0.02))
    stack.start_relay(**FAST_RECOVERY)
    worker = stack.start_worker(concurrency=2, **FAST_RECOVERY)
    wait_until(lambda: InventoryReservation.objects.count() >= 30, timeout=60, what="the first batches")

    worker.kill()
    killed_at = InventoryReservation.objects.count()
    stack.start_worker(concurrency=2, **FAST_RECOVERY)
    wait_until(nothing_open, timeout=120, what="all deliveries to finish")

    handled = InventoryReservation.objects.count()
    batches = sum(worker.log().count("Task delivery.deliver_batch[") for worker in stack.of_kind("worker"))
    print(
        f"published=200 handled={handled} handled_before_kill={killed_at} "
        f"batch_tasks_logged={batches} lost={200 - handled}"
    )
    assert 0 < killed_at < 200
    assert reserved_ids() == sorted(published)
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 200


def test_paused_subscription_accumulates_then_drains_on_resume(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    response = client.post("/api/v1/subscriptions/billing-charge/pause")
    assert response.status_code == 200
    assert response.json()["paused"] is True
    assert response.json()["workers_confirmed"] == 1

    published = publish_batch(client, orders(40, "P", total="1"))
    wait_until(lambda: InventoryReservation.objects.count() == 40, timeout=60, what="inventory deliveries")

    paused = client.get("/api/v1/subscriptions/billing-charge").json()
    print(
        f"published=40 inventory_handled={InventoryReservation.objects.count()} billing_queue={paused['queue_depth']}"
    )
    assert paused["queue_depth"] == 40
    assert BillingCharge.objects.count() == 0

    assert client.post("/api/v1/subscriptions/billing-charge/resume").json()["paused"] is False
    wait_until(lambda: BillingCharge.objects.count() == 40, timeout=60, what="billing to drain after resume")
    assert charged_ids() == sorted(published)
    assert client.get("/api/v1/subscriptions/billing-charge").json()["queue_depth"] == 0


def test_unknown_subscription_is_a_problem(client: httpx.Client) -> None:
    response = client.post("/api/v1/subscriptions/nope/pause")
    assert response.status_code == 404
    assert response.json()["title"] == "Unknown subscription"


def test_filter_sends_each_message_only_where_it_matches(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    eu = publish(client, {"order_id": "EU-1", "total": "10.00"}, attributes={"region": "eu"})
    us = publish(client, {"order_id": "US-1", "total": "10.00"}, attributes={"region": "us"})
    plain = publish(client, {"order_id": "NONE-1", "total": "10.00"}, attributes={})

    wait_until(lambda: nothing_open() and InventoryReservation.objects.count() == 3, timeout=60)

    routed = {
        m: sorted(d["subscription"] for d in client.get(f"/api/v1/messages/{m}").json()["deliveries"])
        for m in (eu, us, plain)
    }
    print(f"published=3 routed={routed}")
    assert routed == {
        eu: ["billing-charge", "eu-vat", "inventory-reserve"],
        us: ["billing-charge", "inventory-reserve"],
        plain: ["billing-charge", "inventory-reserve"],
    }
    assessment = VatAssessment.objects.get()
    assert (str(assessment.message_id), assessment.region, str(assessment.vat)) == (eu, "eu", "2.00")
