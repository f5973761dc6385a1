"""Cancel with real processes: cancelled deliveries never run; a running one is left to its attempt.

The oracle: the handlers' effects, Switchboard's ledger and its duplicate counters.
"""

from typing import Any

import httpx

from apps.delivery.models import Delivery
from apps.demo.models import BillingCharge, InventoryReservation
from apps.topology.models import Subscription
from tests.fault_app import topology as faults_topology
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import publish
from tests.system.oracle import duplicates_skipped, executions, handled_ids, scheduled, stays

DEMO = ("billing-charge", "inventory-reserve")


def cancel(client: httpx.Client, message_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/messages/{message_id}/cancel")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def outcomes(body: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {d["subscription"]: (d["outcome"], d["state"]) for d in body["deliveries"]}


def test_a_cancelled_delayed_message_never_runs(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    stack.start_worker()
    stack.start_relay()
    message_id = publish(client, {"order_id": "C-1", "total": "1"}, delay_seconds=3)
    assert scheduled(rds) == 2

    body = cancel(client, message_id)

    assert body["cancelled"] == 2
    assert outcomes(body) == {name: ("cancelled", "cancelled") for name in DEMO}
    # Past its due time: nothing ran, nothing was even queued.
    assert stays(0, lambda: BillingCharge.objects.count() + InventoryReservation.objects.count(), seconds=6)
    print(
        f"published=1 cancelled={body['cancelled']} handled=0 scheduled_left={scheduled(rds)} "
        f"duplicates_skipped={duplicates_skipped(rds, DEMO)}"
    )
    assert scheduled(rds) == 0
    assert duplicates_skipped(rds, DEMO) == 0


def test_a_cancelled_queued_copy_is_skipped_and_counted(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    Subscription.objects.filter(name="billing-charge").update(paused=True)
    stack.start_worker()
    message_id = publish(client, {"order_id": "C-2", "total": "1"})
    wait_until(lambda: InventoryReservation.objects.count() == 1, timeout=30, what="inventory's delivery")

    body = cancel(client, message_id)
    Subscription.objects.filter(name="billing-charge").update(paused=False)  # the worker follows within seconds

    assert outcomes(body) == {
        "billing-charge": ("cancelled", "cancelled"),
        "inventory-reserve": ("finished", "delivered"),
    }
    wait_until(lambda: duplicates_skipped(rds, ["billing-charge"]) == 1, timeout=30, what="the copy to be skipped")
    print(
        f"published=1 cancelled={body['cancelled']} billing_handled={BillingCharge.objects.count()} "
        f"duplicates_skipped={duplicates_skipped(rds, ['billing-charge'])}"
    )
    assert BillingCharge.objects.count() == 0


def test_a_delivery_running_when_cancelled_is_reported_and_finishes(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    faults_topology.fault_subscription_create()
    stack.start_worker()
    message_id = publish(client, {"order_id": "C-3", "work_seconds": 3}, topic=faults_topology.TOPIC)
    wait_until(lambda: len(executions(rds)) == 1, timeout=30, what="the handler to start")

    body = cancel(client, message_id)

    assert outcomes(body) == {faults_topology.SUBSCRIPTION: ("running", "pending")}
    wait_until(lambda: handled_ids() == {message_id}, timeout=30, what="the running attempt to finish")
    print(f"published=1 cancelled={body['cancelled']} handled={len(handled_ids())} executions={len(executions(rds))}")
    assert Delivery.objects.get().state == "delivered"
    assert len(executions(rds)) == 1
