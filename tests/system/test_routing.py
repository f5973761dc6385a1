"""Routing with real processes: competing consumers, batch publish, batched delivery, pause."""

import re
from typing import Any

import httpx
import pytest

from apps.delivery.models import Delivery, DeliveryState
from apps.demo.models import BillingCharge, InventoryReservation, VatAssessment
from apps.topology.models import Subscription
from tests.system.processes import Stack, WebServer, wait_until

ORDERS_BATCH = "/api/v1/topics/orders.created/messages/batch"
# Short enough that messages held by a SIGKILLed worker come back within the test.
FAST_RECOVERY = {
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "6",
    "CELERY_TASK_TIME_LIMIT": "5",
    "CELERY_TASK_SOFT_TIME_LIMIT": "4",
    "SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT": "1",
    "SWITCHBOARD_WEBHOOK_READ_TIMEOUT": "2",
}


@pytest.fixture
def web(stack: Stack, demo_topology: None) -> WebServer:
    return stack.start_web()


@pytest.fixture
def client(web: WebServer, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=web.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


def publish_batch(client: httpx.Client, payloads: list[Any]) -> list[str]:
    ids = []
    for start in range(0, len(payloads), 500):
        response = client.post(ORDERS_BATCH, json={"messages": [{"payload": p} for p in payloads[start : start + 500]]})
        assert response.status_code == 202, response.text
        ids += [result["id"] for result in response.json()["results"]]
    return ids


def open_deliveries() -> int:
    return Delivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.RETRYING]).count()


def handled_per_worker(stack: Stack) -> list[int]:
    pattern = re.compile(r"Task delivery\.deliver\[[^\]]+\] succeeded")
    return [len(pattern.findall(p.log())) for p in stack.processes if p.name.startswith("worker")]


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
    published = publish_batch(client, [{"order_id": f"C-{n}", "work_seconds": 0.01} for n in range(300)])
    for _ in range(3):
        stack.start_worker(concurrency=1, queues=["sb.inventory-reserve"])

    wait_until(lambda: open_deliveries() == 0, timeout=120, what="all deliveries to finish")

    per_worker = handled_per_worker(stack)
    handled = InventoryReservation.objects.count()
    print(f"published={len(published)} handled={handled} per_worker={per_worker} lost={len(published) - handled}")
    assert handled == 300
    assert sorted(str(m) for m in InventoryReservation.objects.values_list("message_id", flat=True)) == sorted(
        published
    )
    assert sum(per_worker) == 300
    assert all(n > 0 for n in per_worker)
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 300


def test_batched_delivery_survives_a_worker_killed_mid_batch(stack: Stack, client: httpx.Client) -> None:
    Subscription.objects.filter(name="inventory-reserve").update(batch_size=25)
    Subscription.objects.filter(name="billing-charge").delete()
    published = publish_batch(client, [{"order_id": f"K-{n}", "work_seconds": 0.02} for n in range(200)])
    stack.start_relay(**FAST_RECOVERY)
    worker = stack.start_worker(concurrency=2, **FAST_RECOVERY)
    wait_until(lambda: InventoryReservation.objects.count() >= 30, timeout=60, what="the first batches")

    worker.kill()
    killed_at = InventoryReservation.objects.count()
    stack.start_worker(concurrency=2, **FAST_RECOVERY)
    wait_until(lambda: open_deliveries() == 0, timeout=120, what="all deliveries to finish")

    handled = InventoryReservation.objects.count()
    batches = sum(p.log().count("Task delivery.deliver_batch[") for p in stack.processes if p.name.startswith("worker"))
    print(
        f"published=200 handled={handled} handled_before_kill={killed_at} "
        f"batch_tasks_logged={batches} lost={200 - handled}"
    )
    assert 0 < killed_at < 200
    assert sorted(str(m) for m in InventoryReservation.objects.values_list("message_id", flat=True)) == sorted(
        published
    )
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 200


def test_paused_subscription_accumulates_then_drains_on_resume(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    response = client.post("/api/v1/subscriptions/billing-charge/pause")
    assert response.status_code == 200
    assert response.json()["paused"] is True
    assert response.json()["workers_confirmed"] == 1

    published = publish_batch(client, [{"order_id": f"P-{n}", "total": "1"} for n in range(40)])
    wait_until(lambda: InventoryReservation.objects.count() == 40, timeout=60, what="inventory deliveries")

    paused = client.get("/api/v1/subscriptions/billing-charge").json()
    print(
        f"published=40 inventory_handled={InventoryReservation.objects.count()} billing_queue={paused['queue_depth']}"
    )
    assert paused["queue_depth"] == 40
    assert BillingCharge.objects.count() == 0

    assert client.post("/api/v1/subscriptions/billing-charge/resume").json()["paused"] is False
    wait_until(lambda: BillingCharge.objects.count() == 40, timeout=60, what="billing to drain after resume")
    assert sorted(str(m) for m in BillingCharge.objects.values_list("message_id", flat=True)) == sorted(published)
    assert client.get("/api/v1/subscriptions/billing-charge").json()["queue_depth"] == 0


def test_unknown_subscription_is_a_problem(client: httpx.Client) -> None:
    response = client.post("/api/v1/subscriptions/nope/pause")
    assert response.status_code == 404
    assert response.json()["title"] == "Unknown subscription"


def test_filter_sends_each_message_only_where_it_matches(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    eu = publish_one(client, {"order_id": "EU-1", "total": "10.00"}, {"region": "eu"})
    us = publish_one(client, {"order_id": "US-1", "total": "10.00"}, {"region": "us"})
    plain = publish_one(client, {"order_id": "NONE-1", "total": "10.00"}, {})

    wait_until(lambda: open_deliveries() == 0 and InventoryReservation.objects.count() == 3, timeout=60)

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


def publish_one(client: httpx.Client, payload: Any, attributes: dict[str, str]) -> str:
    response = client.post(
        "/api/v1/topics/orders.created/messages", json={"payload": payload, "attributes": attributes}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])
