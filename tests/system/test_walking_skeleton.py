"""A message from the REST API (gunicorn) through a private Redis to real celery workers.

The oracle is what the demo handlers recorded (one row per effect) and Switchboard's own
ledger (delivery rows); each test prints its counts.
"""

from typing import Any

import httpx

from apps.deadletters.models import DeadLetter
from apps.delivery.models import Delivery, DeliveryState
from apps.demo.models import BillingCharge, InventoryReservation
from tests.harness.processes import wait_until
from tests.harness.stack import Stack, WebServer
from tests.system.api import ORDERS, publish
from tests.system.oracle import charged_ids, nothing_open, reserved_ids


def status(client: httpx.Client, message_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/messages/{message_id}")
    assert response.status_code == 200, response.text
    # The fields this test follows (a delivery's status also shows its times and attempts).
    fields = ("subscription", "state", "attempts", "last_error")
    return {d["subscription"]: {f: d[f] for f in fields} for d in response.json()["deliveries"]}


def test_one_message_is_delivered_once_to_each_subscription(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    message_id = publish(client, {"order_id": "A-1", "total": "12.50", "items": ["book"]})

    wait_until(lambda: all(d["state"] == "delivered" for d in status(client, message_id).values()), timeout=30)

    deliveries = status(client, message_id)
    assert deliveries == {
        "billing-charge": {"subscription": "billing-charge", "state": "delivered", "attempts": 1, "last_error": None},
        "inventory-reserve": {
            "subscription": "inventory-reserve",
            "state": "delivered",
            "attempts": 1,
            "last_error": None,
        },
    }
    reservation = InventoryReservation.objects.get()
    assert (str(reservation.message_id), reservation.order_id, reservation.items) == (message_id, "A-1", ["book"])
    charge = BillingCharge.objects.get()
    assert (str(charge.message_id), str(charge.amount), charge.attempt) == (message_id, "12.50", 1)


def test_fan_out_delivers_every_message_to_both_subscriptions(stack: Stack, client: httpx.Client) -> None:
    published = [publish(client, {"order_id": f"F-{n}", "total": "1"}) for n in range(60)]
    stack.start_worker(concurrency=2)

    wait_until(nothing_open, timeout=60, what="all deliveries to finish")

    reserved, charged = reserved_ids(), charged_ids()
    lost = len(set(published) - set(reserved)) + len(set(published) - set(charged))
    print(f"published={len(published)} handled={len(reserved) + len(charged)} lost={lost}")
    assert reserved == sorted(published)
    assert charged == sorted(published)
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 120


def test_retry_then_success(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    stack.start_relay()
    message_id = publish(client, {"order_id": "R-1", "total": "5", "simulate": {"fail_times": 2}})

    wait_until(lambda: status(client, message_id)["billing-charge"]["state"] == "delivered", timeout=30)

    billing = status(client, message_id)["billing-charge"]
    assert (billing["state"], billing["attempts"], billing["last_error"]) == ("delivered", 3, None)
    charge = BillingCharge.objects.get()
    assert (str(charge.message_id), charge.attempt) == (message_id, 3)
    assert status(client, message_id)["inventory-reserve"]["attempts"] == 1


def test_permanent_failure_ends_dead_after_max_attempts(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    stack.start_relay()
    message_id = publish(client, {"order_id": "D-1", "total": "5", "simulate": "fail_always"})

    wait_until(lambda: status(client, message_id)["billing-charge"]["state"] == "dead", timeout=30)

    billing = status(client, message_id)["billing-charge"]
    assert (billing["state"], billing["attempts"]) == ("dead", 5)
    assert billing["last_error"] == "apps.core.errors.RetryableError: simulated failure (fail_always)"
    assert BillingCharge.objects.count() == 0
    assert status(client, message_id)["inventory-reserve"]["state"] == "delivered"
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.subscription is not None
    assert (str(dead_letter.message_id), dead_letter.subscription.name, dead_letter.reason, dead_letter.attempts) == (
        message_id,
        "billing-charge",
        "exhausted",
        5,
    )
    assert dead_letter.payload == {"order_id": "D-1", "total": "5", "simulate": "fail_always"}
    assert dead_letter.last_error.startswith("Traceback")


def test_api_errors_are_problem_details(web: WebServer, client: httpx.Client) -> None:
    cases = [
        (httpx.post(web.base_url + ORDERS, json={"payload": {}}), 401),
        (httpx.post(web.base_url + ORDERS, json={"payload": {}}, headers={"Authorization": "Bearer sb_x_y"}), 401),
        (client.post("/api/v1/topics/no.such.topic/messages", json={"payload": {}}), 404),
        (client.post(ORDERS, content=b"{not json", headers={"Content-Type": "application/json"}), 400),
        (client.post(ORDERS, json={"payload": {}, "attributes": {"region": 1}}), 400),
        (client.post(ORDERS, json={"payload": {}, "key": 7}), 400),
        (client.post(ORDERS, json={"attributes": {}}), 400),
        (client.post(ORDERS, json={"payload": "x" * (256 * 1024)}), 413),
        (client.get("/api/v1/messages/01a2249d-bb0f-7e32-b5ea-f15b3b696912"), 404),
    ]
    for response, expected in cases:
        assert response.status_code == expected, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == expected
        assert {"type", "title", "detail"} <= set(body)
    assert Delivery.objects.count() == 0
