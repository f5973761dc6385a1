"""Sentry, for real: gunicorn and a prefork worker report to a local HTTP server standing in for Sentry.

A publish over the REST API is a Django transaction in the web process; its trace goes
with the hand-built task messages (apps.delivery.broker), so each delivery's Celery
transaction in the worker carries the publish's trace id, as the child of a span of the
publish. A delivery that dies after its retries is one error event, tagged with its
subscription, message id and attempts; its retries are no events of their own.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from apps.deadletters.models import DeadLetter
from apps.delivery.models import OPEN_STATES, Delivery
from apps.topology.models import Subscription
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import api_client, publish
from tests.system.envelopes import EnvelopeReceiver

MAX_ATTEMPTS = 3


@pytest.fixture
def receiver() -> Iterator[EnvelopeReceiver]:
    server = EnvelopeReceiver().start()
    yield server
    server.stop()


def spans_of(transaction: dict[str, Any]) -> set[str]:
    """The span ids inside a transaction: its own and its child spans'."""
    return {transaction["contexts"]["trace"]["span_id"], *(span["span_id"] for span in transaction.get("spans", []))}


def test_a_publish_traces_to_its_deliveries_and_a_dead_letter_is_one_error_event(
    stack: Stack, demo_topology: None, api_key: str, receiver: EnvelopeReceiver
) -> None:
    Subscription.objects.filter(name="billing-charge").update(max_attempts=MAX_ATTEMPTS)
    sentry = {"SENTRY_DSN": receiver.dsn, "SENTRY_TRACES_SAMPLE_RATE": "1.0"}
    web = stack.start_web(**sentry)
    stack.start_worker(concurrency=2, SENTRY_DSN=receiver.dsn, SENTRY_TRACES_SAMPLE_RATE="1.0")
    stack.start_relay()
    with api_client(web, api_key) as client:
        traced = publish(client, {"order_id": "traced", "total": "1.00"})
        doomed = publish(client, {"order_id": "doomed", "total": "1.00", "simulate": "fail_always"})
    wait_until(lambda: not Delivery.objects.filter(state__in=OPEN_STATES).exists(), timeout=60, what="deliveries")
    assert DeadLetter.objects.filter(message_id=doomed, subscription__name="billing-charge").count() == 1

    def worker_transactions(trace_id: str) -> list[dict[str, Any]]:
        return [
            t
            for t in receiver.transactions()
            if t.get("transaction") == "delivery.deliver" and t["contexts"]["trace"]["trace_id"] == trace_id
        ]

    def publishes() -> list[dict[str, Any]]:
        found = [t for t in receiver.transactions() if t.get("transaction", "").startswith("/api/v1/topics/")]
        return sorted(found, key=lambda t: t["start_timestamp"])

    wait_until(lambda: len(publishes()) == 2, timeout=30, what="the web's two publish transactions")
    # Two publishes, two traces; the first publish's trace reaches each of its deliveries.
    first, second = publishes()
    assert first["contexts"]["trace"]["trace_id"] != second["contexts"]["trace"]["trace_id"]
    trace_id = first["contexts"]["trace"]["trace_id"]
    deliveries_of_first = Delivery.objects.filter(message_id=traced).count()
    wait_until(
        lambda: len(worker_transactions(trace_id)) == deliveries_of_first,
        timeout=30,
        what="a worker transaction per delivery of the first publish",
    )
    children = worker_transactions(trace_id)
    print(
        f"publish trace {trace_id}: {len(children)} delivery transactions", [c["contexts"]["trace"] for c in children]
    )
    for child in children:
        assert child["contexts"]["trace"]["parent_span_id"] in spans_of(first)

    def dead_letter_events() -> list[dict[str, Any]]:
        return [e for e in receiver.errors() if e.get("tags", {}).get("message_id") == doomed]

    wait_until(lambda: len(dead_letter_events()) >= 1, timeout=30, what="the dead letter's error event")
    (event,) = dead_letter_events()
    assert {k: event["tags"][k] for k in ("subscription", "message_id", "attempts")} == {
        "subscription": "billing-charge",
        "message_id": doomed,
        "attempts": str(MAX_ATTEMPTS),
    }
    assert event["exception"]["values"][-1]["type"] == "RetryableError"
    crumbs = [c for c in event.get("breadcrumbs", {}).get("values", []) if c.get("category") == "delivery.retry"]
    assert crumbs, event.get("breadcrumbs")
    # Retries are no events: the only error events are the dead letter's.
    assert [e["tags"].get("message_id") for e in receiver.errors()] == [doomed]
