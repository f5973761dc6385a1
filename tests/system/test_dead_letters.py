"""Dead letters replayed for real: 500 billing deliveries die, are replayed over the REST API
through gunicorn, and each is delivered exactly once more by a real worker and relay.

The billing handler fails attempt 1 of each message (`"simulate": {"fail_times": 1}`) and
the subscription allows 1 attempt, so every billing delivery dies at once (exhausted).
Before the replay the subscription is raised to 2 attempts. A replay starts its attempts
afresh, so the replayed attempt 1 fails again, is retried through the delay schedule, and
attempt 2 succeeds: each message is charged once, by attempt 2. Had the replay kept the
old count, attempt 2 would have run at once and no replayed attempt 1 would have failed;
the worker's log shows that 500 of them did.
"""

from collections import Counter

import httpx
import pytest

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery, DeliveryState
from apps.demo.models import BillingCharge, InventoryReservation
from apps.topology.models import Subscription
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import orders, publish_batch
from tests.system.oracle import charged_ids, duplicates_skipped, nothing_open

MESSAGES = 500
RATE_PER_SECOND = 200


def test_replay_of_500_dead_letters_delivers_each_exactly_once_more(stack: Stack, client: httpx.Client) -> None:
    billing = Subscription.objects.get(name="billing-charge")
    Subscription.objects.filter(pk=billing.pk).update(max_attempts=1)
    worker = stack.start_worker(concurrency=2)
    stack.start_relay()

    published = publish_batch(client, orders(MESSAGES, "DL", total="2.50", simulate={"fail_times": 1}))
    wait_until(nothing_open, timeout=120, what="every delivery to be delivered or dead")

    assert DeadLetter.objects.filter(subscription=billing, reason=DeadLetterReason.EXHAUSTED, attempts=1).count() == (
        MESSAGES
    )
    assert DeadLetter.objects.exclude(subscription=billing).count() == 0
    assert BillingCharge.objects.count() == 0
    assert InventoryReservation.objects.count() == MESSAGES
    listed = client.get("/api/v1/dead-letters", params={"subscription": "billing-charge", "limit": 1})
    assert listed.status_code == 200, listed.text
    assert listed.json()["count"] == MESSAGES
    dead_lettered = DeadLetter.objects.filter(subscription=billing).count()

    Subscription.objects.filter(pk=billing.pk).update(max_attempts=2)
    response = client.post(
        "/api/v1/dead-letters/replay",
        json={"filter": {"subscription": "billing-charge"}, "rate_per_second": RATE_PER_SECOND},
    )
    assert response.status_code == 202, response.text
    report = response.json()
    assert {k: report[k] for k in ("selected", "replayed", "rerouted", "still_unroutable", "rate_per_second")} == {
        "selected": MESSAGES,
        "replayed": MESSAGES,
        "rerouted": 0,
        "still_unroutable": 0,
        "rate_per_second": RATE_PER_SECOND,
    }
    assert sum(report["skipped"].values()) == 0
    wait_until(nothing_open, timeout=120, what="every replayed delivery to be delivered")

    charged = charged_ids()
    duplicates = duplicates_skipped(stack.redis.client(), ["billing-charge"])
    lost = len(set(published) - set(charged))
    print(
        f"published={len(published)} dead_lettered={dead_lettered} replayed={report['replayed']}"
        f" handled={len(charged)} duplicates={duplicates} lost={lost}"
    )
    assert sorted(charged) == sorted(published)  # each message charged exactly once
    assert set(BillingCharge.objects.values_list("attempt", flat=True)) == {2}
    deliveries = Delivery.objects.filter(subscription=billing).select_related("replayed_from")
    assert {(d.state, d.attempts, d.last_error) for d in deliveries} == {(DeliveryState.DELIVERED, 2, "")}
    assert all(d.replayed_from is not None and d.replayed_from.delivery_id == d.pk for d in deliveries)
    assert DeadLetter.objects.count() == MESSAGES  # none died again
    assert DeadLetter.objects.filter(replayed_at__isnull=True).count() == 0
    # 500 first attempts before the replay, and 500 replayed attempts counted from 1 again.
    assert worker.log().count("attempt 1 failed: RetryableError") == 2 * MESSAGES
    # The replay went out at the rate asked: 20 due every 0.1 s, 25 steps over 2.4 s.
    due = Counter(d.not_before for d in deliveries)
    assert None not in due
    steps = sorted(t for t in due if t is not None)
    assert set(due.values()) == {RATE_PER_SECOND // 10}
    assert [(t - steps[0]).total_seconds() for t in steps] == pytest.approx([n / 10 for n in range(25)], abs=1e-6)
