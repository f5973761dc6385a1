"""One truth for "paused": real workers follow the database flag, however it changed.

The flag is changed in the database only (as the admin form or a shell would), never
broadcast, and each test counts what the handlers did.
"""

import httpx

from apps.demo.models import BillingCharge, InventoryReservation
from apps.topology.models import Subscription
from tests.fault_app import topology as faults_topology
from tests.harness.processes import wait_until
from tests.harness.redis_server import int_reply
from tests.harness.stack import Stack
from tests.system.api import orders, publish, publish_batch
from tests.system.oracle import charged_ids, handled_ids, stays

BILLING_QUEUE = "sb.billing-charge"
# Workers reconcile every second (SWITCHBOARD_PAUSE_RECONCILE_SECONDS); give them a few.
FOLLOW_SECONDS = 10


def flag_set(name: str, *, paused: bool) -> None:
    """Save the flag through the model, as the admin's change form does: no broadcast."""
    subscription = Subscription.objects.get(name=name)
    subscription.paused = paused
    subscription.save()


def test_a_pause_saved_in_the_database_only_stops_and_starts_consumption(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    worker = stack.start_worker()
    flag_set("billing-charge", paused=True)
    worker.wait_for_log(f"Subscription queue {BILLING_QUEUE} is paused or gone", timeout=FOLLOW_SECONDS)

    published = publish_batch(client, orders(20, "P", total="1"))
    wait_until(lambda: InventoryReservation.objects.count() == 20, timeout=60, what="inventory deliveries")
    held = stays(20, lambda: int_reply(rds.llen(BILLING_QUEUE)), seconds=3)
    print(
        f"published=20 inventory_handled={InventoryReservation.objects.count()} billing_handled_while_paused="
        f"{BillingCharge.objects.count()}"
    )
    assert held
    assert BillingCharge.objects.count() == 0

    flag_set("billing-charge", paused=False)
    wait_until(lambda: BillingCharge.objects.count() == 20, timeout=FOLLOW_SECONDS, what="billing to drain")
    assert charged_ids() == sorted(published)
    assert int_reply(rds.llen(BILLING_QUEUE)) == 0


def test_a_restarted_worker_keeps_a_pause_and_follows_a_resume(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    stack.start_worker().stop()
    flag_set("billing-charge", paused=True)  # while no worker runs
    worker = stack.start_worker()

    published = [publish(client, {"order_id": f"R-{n}", "total": "1"}) for n in range(5)]
    wait_until(lambda: InventoryReservation.objects.count() == 5, timeout=60, what="inventory deliveries")
    assert stays(5, lambda: int_reply(rds.llen(BILLING_QUEUE)), seconds=2)

    flag_set("billing-charge", paused=False)
    wait_until(lambda: BillingCharge.objects.count() == 5, timeout=FOLLOW_SECONDS, what="billing to drain")
    print(
        f"published=5 charged={BillingCharge.objects.count()} worker_log_resumes="
        f"{worker.log().count(f'Subscription queue {BILLING_QUEUE} is active')}"
    )
    assert charged_ids() == sorted(published)


def test_a_subscription_created_after_the_worker_started_is_consumed(stack: Stack, client: httpx.Client) -> None:
    stack.start_worker()
    faults_topology.fault_subscription_create()  # after start: no restart, no broadcast

    published = [publish(client, {"order_id": f"N-{n}"}, topic=faults_topology.TOPIC) for n in range(5)]
    wait_until(lambda: len(handled_ids()) == 5, timeout=FOLLOW_SECONDS + 10, what="the new subscription's deliveries")
    print(f"published=5 handled={len(handled_ids())}")
    assert handled_ids() == set(published)


def test_a_pause_made_while_redis_was_down_is_followed_once_it_is_back(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    worker = stack.start_worker()
    stack.redis.stop()
    flag_set("billing-charge", paused=True)
    stack.redis.start()  # same port and AOF: the worker reconnects
    worker.wait_for_log(f"Subscription queue {BILLING_QUEUE} is paused or gone", timeout=60)

    published = [publish(client, {"order_id": f"D-{n}", "total": "1"}) for n in range(5)]
    wait_until(lambda: InventoryReservation.objects.count() == 5, timeout=60, what="inventory deliveries")
    assert stays(5, lambda: int_reply(rds.llen(BILLING_QUEUE)), seconds=2)

    flag_set("billing-charge", paused=False)
    wait_until(lambda: BillingCharge.objects.count() == 5, timeout=FOLLOW_SECONDS, what="billing to drain")
    print(f"published=5 charged={BillingCharge.objects.count()}")
    assert charged_ids() == sorted(published)
