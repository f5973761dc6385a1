"""/metrics against the ledger: a known mix through gunicorn, real workers and the relay.

The mix, on the demo topology: successes, `fail_times` (billing retries, then delivers),
`fail_always` (billing dead-letters after its 5 attempts), a paused subscription
(`eu-vat`: its deliveries wait in its queue), messages its filter leaves out, an
unroutable topic, an idempotent repeat (publishes nothing) and a duplicate copy of a
delivered delivery (skipped and counted). Published through two gunicorn workers,
delivered by a prefork worker of two children: every counter and gauge that /metrics
answers must equal what the ledger (Message, Delivery and DeadLetter rows) says.
"""

import contextlib
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest
from django.db.models import Min, Sum
from prometheus_client.parser import text_string_to_metric_families

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import broker, outbox, scheduler
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic
from tests.harness.processes import HarnessError, wait_until
from tests.harness.stack import Stack, WebServer
from tests.system.api import ORDERS_TOPIC, api_client, publish, publish_batch

TOKEN = "system-test-metrics-token"
UNROUTED_TOPIC = "audit.unrouted"
SUBSCRIPTIONS = ("inventory-reserve", "billing-charge", "eu-vat", "email-send")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(web: WebServer) -> Samples:
    answer = httpx.get(f"{web.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def ledger_counts() -> Samples:
    """What the ledger says of every figure that /metrics shows, as (name, labels) -> value."""
    expected: Samples = {}

    def put(name: str, number: float, **labels: str) -> None:
        expected[(name, tuple(sorted(labels.items())))] = number

    for topic in Topic.objects.all():
        messages = Message.objects.filter(topic=topic)
        put("switchboard_messages_published_total", messages.count(), topic=topic.name)
        put("switchboard_unroutable_total", messages.filter(deliveries__isnull=True).count(), topic=topic.name)
    for s in Subscription.objects.all():
        deliveries = Delivery.objects.filter(subscription=s)
        attempts = int(deliveries.aggregate(n=Sum("attempts"))["n"] or 0)
        delivered = deliveries.filter(state=DeliveryState.DELIVERED).count()
        dead = deliveries.filter(state=DeliveryState.DEAD).count()
        # Each attempt that did not end its delivery (delivered or dead) was retried.
        retried = attempts - delivered - dead
        for outcome, number in (("delivered", delivered), ("dead", dead), ("retried", retried)):
            put("switchboard_deliveries_total", number, subscription=s.name, outcome=outcome)
        # Every attempt ran the handler once: one latency and one duration observed each.
        put("switchboard_delivery_latency_seconds_count", attempts, subscription=s.name)
        put("switchboard_handler_duration_seconds_count", attempts, subscription=s.name)
        open_deliveries = deliveries.filter(state__in=OPEN_STATES)
        put("switchboard_queue_depth", open_deliveries.count(), subscription=s.name, state="ready")
        put("switchboard_queue_depth", 0, subscription=s.name, state="scheduled")
        put("switchboard_queue_depth", 0, subscription=s.name, state="in_flight")
        put(
            "switchboard_queue_depth",
            deliveries.filter(sent_at__isnull=True).count(),
            subscription=s.name,
            state="outbox",
        )
        dead_letters: dict[str, int] = defaultdict(int)
        for reason in DeadLetter.objects.filter(subscription=s, replayed_at__isnull=True).values_list(
            "reason", flat=True
        ):
            dead_letters[reason] += 1
        for reason in (r for r in DeadLetterReason.values if r != DeadLetterReason.UNROUTABLE):
            put("switchboard_dead_letters", dead_letters[reason], subscription=s.name, reason=reason)
        put("switchboard_subscription_paused", 1 if s.paused else 0, subscription=s.name)
        put("switchboard_consumers", 0 if s.paused else 1, subscription=s.name)
    return expected


def differences(expected: Samples, samples: Samples) -> dict[Any, tuple[float, float | None]]:
    return {key: (number, samples.get(key)) for key, number in expected.items() if samples.get(key) != number}


def test_every_counter_and_gauge_equals_the_ledger(stack: Stack, demo_topology: None, api_key: str) -> None:
    Subscription.objects.filter(name="eu-vat").update(paused=True)
    Topic.objects.create(name=UNROUTED_TOPIC)
    web = stack.start_web(SWITCHBOARD_METRICS_TOKEN=TOKEN)
    stack.start_worker(concurrency=2)
    stack.start_relay()
    with api_client(web, api_key) as client:
        # 20 successes in the us (eu-vat's filter leaves them out), 4 in the eu (eu-vat is
        # paused: they wait), 3 that billing fails twice, 2 that billing always fails.
        us = [{"payload": {"order_id": f"us-{n}", "total": "3.00"}, "attributes": {"region": "us"}} for n in range(20)]
        eu = [{"payload": {"order_id": f"eu-{n}", "total": "3.00"}, "attributes": {"region": "eu"}} for n in range(4)]
        twice = [{"payload": {"order_id": f"ft-{n}", "total": "1", "simulate": {"fail_times": 2}}} for n in range(3)]
        always = [{"payload": {"order_id": f"fa-{n}", "total": "1", "simulate": "fail_always"}} for n in range(2)]
        publish_batch(client, us + eu)
        for item in twice + always:
            publish(client, item["payload"])
        # A repeat with the same Idempotency-Key publishes nothing.
        for _ in range(2):
            answer = client.post(
                f"/api/v1/topics/{ORDERS_TOPIC}/messages",
                json={"payload": {"order_id": "idem-1", "total": "2.00"}},
                headers={"Idempotency-Key": "metrics-idem-1"},
            )
            assert answer.status_code == 202, answer.text
        for n in range(2):
            publish(client, {"n": n}, topic=UNROUTED_TOPIC)

    def settled() -> bool:
        open_elsewhere = Delivery.objects.filter(state__in=OPEN_STATES).exclude(subscription__name="eu-vat")
        return not open_elsewhere.exists() and scheduler.scheduled_count(stack.redis.client()) == 0

    wait_until(settled, timeout=120, what="every delivery but the paused ones to finish")
    # A second copy of a delivered delivery: the worker skips it and counts a duplicate.
    delivered = Delivery.objects.filter(subscription__name="inventory-reserve", state=DeliveryState.DELIVERED).first()
    assert delivered is not None
    queue = delivered.subscription.queue
    copy = broker.task_message(task=outbox.DELIVER, args=(delivered.pk,), queue=queue)
    broker.tasks_push(stack.redis.client(), [(queue, copy)])

    expected = ledger_counts()
    expected[("switchboard_deliveries_total", (("outcome", "duplicate"), ("subscription", "inventory-reserve")))] = 1
    for name in ("billing-charge", "eu-vat", "email-send"):
        expected[("switchboard_deliveries_total", (("outcome", "duplicate"), ("subscription", name)))] = 0
    # Each process sends its counts within half a second (apps.core.telemetry).
    with contextlib.suppress(HarnessError):
        wait_until(lambda: not differences(expected, scrape(web)), timeout=30, what="/metrics to match the ledger")
    samples = scrape(web)
    print(
        "published", {k[1]: v for k, v in samples.items() if k[0] == "switchboard_messages_published_total"},
        "deliveries", {k[1]: v for k, v in samples.items() if k[0] == "switchboard_deliveries_total" and v},
    )  # fmt: skip
    assert differences(expected, samples) == {}

    # The mix is what it was meant to be, so the equalities above are not trivial.
    assert value(samples, "switchboard_messages_published_total", topic=ORDERS_TOPIC) == 20 + 4 + 3 + 2 + 1
    assert value(samples, "switchboard_messages_published_total", topic=UNROUTED_TOPIC) == 2
    assert value(samples, "switchboard_unroutable_total", topic=UNROUTED_TOPIC) == 2
    billing = {o: value(samples, "switchboard_deliveries_total", subscription="billing-charge", outcome=o) for o in
               ("delivered", "retried", "dead")}  # fmt: skip
    assert billing == {"delivered": 20 + 4 + 3 + 1, "retried": 3 * 2 + 2 * 4, "dead": 2}
    assert value(samples, "switchboard_dead_letters", subscription="billing-charge", reason="exhausted") == 2
    assert value(samples, "switchboard_queue_depth", subscription="eu-vat", state="ready") == 4
    assert value(samples, "switchboard_subscription_paused", subscription="eu-vat") == 1
    assert value(samples, "switchboard_consumers", subscription="eu-vat") == 0
    assert value(samples, "switchboard_consumers", subscription="billing-charge") == 1
    assert value(samples, "switchboard_deliveries_total", subscription="eu-vat", outcome="delivered") == 0
    # The oldest open delivery is one of eu-vat's, waiting since its publish.
    oldest = Delivery.objects.filter(subscription__name="eu-vat").aggregate(m=Min("created_at"))["m"]
    assert oldest is not None
    age = value(samples, "switchboard_oldest_message_age_seconds", subscription="eu-vat")
    assert age == pytest.approx(time.time() - oldest.timestamp(), abs=3)
    assert value(samples, "switchboard_oldest_message_age_seconds", subscription="billing-charge") == 0
