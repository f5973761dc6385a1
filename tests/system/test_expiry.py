"""Prompt expiry with real processes: a delivery past its TTL is a dead letter `expired` within seconds.

Wherever it waits — queued with no worker, on a paused subscription, delayed, or
retrying — the relay finds it, not a worker; a copy still queued is then skipped and
counted as a duplicate.
"""

import httpx

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.demo.models import BillingCharge, InventoryReservation
from apps.topology.models import Subscription
from tests.harness.processes import wait_until
from tests.harness.redis_server import int_reply
from tests.harness.stack import Stack
from tests.system.api import publish
from tests.system.oracle import duplicates_skipped, scheduled

TTL = 2
# The relay sweeps every second; allow for a loaded machine.
WITHIN = 15


def expired(subscription: str) -> set[str]:
    rows = DeadLetter.objects.filter(subscription__name=subscription, reason=DeadLetterReason.EXPIRED)
    return {str(m) for m in rows.values_list("message_id", flat=True)}


def test_queued_deliveries_with_no_worker_expire_and_their_copies_are_skipped(
    stack: Stack, client: httpx.Client
) -> None:
    rds = stack.redis.client()
    stack.start_relay()
    published = {publish(client, {"order_id": f"Q-{n}", "total": "1"}, ttl_seconds=TTL) for n in range(3)}

    wait_until(lambda: len(expired("billing-charge")) == 3 and len(expired("inventory-reserve")) == 3, timeout=WITHIN)
    queued = int_reply(rds.llen("sb.billing-charge")) + int_reply(rds.llen("sb.inventory-reserve"))
    stack.start_worker()
    subscriptions = ("billing-charge", "inventory-reserve")
    wait_until(lambda: duplicates_skipped(rds, subscriptions) == 6, timeout=30, what="the copies to be skipped")
    print(
        f"published=3 expired={len(expired('billing-charge')) + len(expired('inventory-reserve'))} "
        f"queued_copies={queued} duplicates_skipped={duplicates_skipped(rds, subscriptions)}"
    )
    assert expired("billing-charge") == expired("inventory-reserve") == published
    assert queued == 6
    assert BillingCharge.objects.count() == InventoryReservation.objects.count() == 0


def test_a_paused_subscriptions_delivery_expires_while_paused(stack: Stack, client: httpx.Client) -> None:
    Subscription.objects.filter(name="billing-charge").update(paused=True)
    stack.start_worker()
    stack.start_relay()
    message_id = publish(client, {"order_id": "P-1", "total": "1"}, ttl_seconds=TTL)

    wait_until(lambda: expired("billing-charge") == {message_id}, timeout=WITHIN)
    print(
        f"published=1 inventory_handled={InventoryReservation.objects.count()} "
        f"billing_expired={len(expired('billing-charge'))}"
    )
    assert InventoryReservation.objects.count() == 1
    assert BillingCharge.objects.count() == 0


def test_delayed_and_retrying_deliveries_expire_before_they_are_due(stack: Stack, client: httpx.Client) -> None:
    rds = stack.redis.client()
    Subscription.objects.filter(name="billing-charge").update(retry_initial_delay=120, retry_max_delay=120)
    stack.start_worker()
    stack.start_relay()
    delayed = publish(client, {"order_id": "L-1", "total": "1"}, delay_seconds=120, ttl_seconds=TTL)
    retrying = publish(client, {"order_id": "T-1", "total": "1", "simulate": {"fail_times": 5}}, ttl_seconds=TTL + 2)

    wait_until(lambda: expired("billing-charge") == {delayed, retrying}, timeout=WITHIN + 2)
    wait_until(lambda: expired("inventory-reserve") == {delayed}, timeout=WITHIN)
    retried = DeadLetter.objects.get(message_id=retrying, subscription__name="billing-charge")
    print(
        f"published=2 billing_expired={len(expired('billing-charge'))} attempts_before_expiry={retried.attempts} "
        f"scheduled_left={scheduled(rds)}"
    )
    assert retried.attempts == 1
    assert InventoryReservation.objects.count() == 1  # the retrying message's, delivered before its TTL
    assert scheduled(rds) == 0  # the expired entries left the delay schedule
