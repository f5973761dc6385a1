"""Breakage tests with real processes: poison messages, time limits and the visibility timeout.

Like tests/system/test_crashes.py, every test publishes through the REST API to a topic
of its own served by the `fault-reserve` consumer and prints one line of counts.

A running delivery renews its task message's visibility every third of its lease
(apps/delivery/leases.py), so handlers may run past a short visibility timeout up to their
time limit; what is refused at start-up is a lease longer than the visibility timeout
(project/celery.py, check_time_limits).
"""

from typing import Any

import pytest
import redis

from apps.core import redis_keys
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import broker
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from tests.fault_app.topology import QUEUE, TOPIC, fault_subscription_create
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system import oracle
from tests.system.api import api_client, orders, publish_batch
from tests.system.oracle import report

LEASE_SECONDS = 3


# --- 5. Poison message ----------------------------------------------------------------


def test_poison_message_that_kills_its_worker_is_dead_lettered_after_max_attempts(
    stack: Stack, api_key: str, rds: redis.Redis
) -> None:
    fault_subscription_create(max_attempts=3)
    client = api_client(stack.start_web(), api_key)
    stack.start_relay()
    worker = stack.start_worker(concurrency=2, queues=[QUEUE], SWITCHBOARD_LEASE_SECONDS=str(LEASE_SECONDS))
    items = orders(1_000, "G")
    items.insert(100, {"payload": {"order_id": "poison", "simulate": "crash"}})
    published = publish_batch(client, items, topic=TOPIC)
    poison_id = published.pop(100)

    settled = oracle.settle(timeout=120)
    report([*published, poison_id], rds)
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    # Never run again: wait three more lease periods.
    stayed = oracle.stays(3, lambda: oracle.runs_per_message(rds)[poison_id], seconds=3 * LEASE_SECONDS)

    tally = report([*published, poison_id], rds, poison_runs_stayed_3=stayed)
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (1_000, 1_003, 1, 0)
    assert stayed
    poison = Delivery.objects.get(message_id=poison_id)
    assert (poison.state, poison.attempts) == (DeliveryState.DEAD, 3)
    dead_letter = DeadLetter.objects.get()
    assert (str(dead_letter.message_id), dead_letter.reason, dead_letter.attempts) == (
        poison_id,
        DeadLetterReason.WORKER_LOST,
        3,
    )
    poison_runs = [e for e in oracle.executions(rds) if e["id"] == poison_id]
    assert [e["attempt"] for e in poison_runs] == [1, 2, 3]
    assert len({e["pid"] for e in poison_runs}) == 3  # each run took its pool child down
    assert oracle.handled_ids() == set(published)
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 1_000
    assert rds.exists(redis_keys.starts(poison.pk)) == 0
    assert rds.zcard(redis_keys.RUNNING) == 0
    assert worker.alive()


# --- 6. Time limits and the visibility timeout ----------------------------------------

# A 2 s visibility timeout, renewed every 2/3 s by the lease keeper. Every process gets
# it, as one deployment would.
SHORT_VISIBILITY: dict[str, Any] = {
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "2",
    "SWITCHBOARD_LEASE_SECONDS": "2",
}


def test_handler_running_past_a_2s_visibility_timeout_is_handled_once(
    stack: Stack, api_key: str, rds: redis.Redis
) -> None:
    """Three 6 s handlers under a 2 s visibility timeout, with an idle worker waiting for
    any message Redis hands out again: each runs once, and no copy even reaches a worker
    (a copy would be skipped for its lease, and counted as a duplicate)."""
    fault_subscription_create()
    client = api_client(stack.start_web(**SHORT_VISIBILITY), api_key)
    stack.start_relay(**SHORT_VISIBILITY)
    for _ in range(4):
        stack.start_worker(concurrency=1, queues=[QUEUE], **SHORT_VISIBILITY)
    slow = publish_batch(client, orders(3, "SLOW", work_seconds=6), topic=TOPIC)
    wait_until(lambda: len(oracle.executions(rds)) == 3, timeout=30, what="the three handlers to start")
    unacked_while_running = rds.hlen(broker.UNACKED)

    settled = oracle.settle(timeout=60)
    stayed = oracle.stays(3, lambda: len(oracle.executions(rds)), seconds=4)

    tally = report(slow, rds, unacked_while_running=unacked_while_running, stayed=stayed)
    assert settled
    assert unacked_while_running == 3
    assert (tally.handled, tally.executions, tally.duplicates_skipped, tally.dead_lettered, tally.lost) == (
        3,
        3,
        0,
        0,
        0,
    )
    assert stayed
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 3
    assert rds.hlen(broker.UNACKED) == 0


def test_message_delayed_5s_under_a_2s_visibility_timeout_runs_once_and_not_early(
    stack: Stack, api_key: str, rds: redis.Redis
) -> None:
    fault_subscription_create()
    client = api_client(stack.start_web(**SHORT_VISIBILITY), api_key)
    stack.start_relay(**SHORT_VISIBILITY)
    for _ in range(2):
        stack.start_worker(concurrency=1, queues=[QUEUE], **SHORT_VISIBILITY)
    delayed = publish_batch(client, [{**item, "delay_seconds": 5} for item in orders(10, "LATER")], topic=TOPIC)
    # They wait in Switchboard's schedule, not unacknowledged in a worker (Celery's eta).
    waiting = (rds.zcard(redis_keys.SCHEDULED), rds.llen(QUEUE), rds.hlen(broker.UNACKED))

    settled = oracle.settle(timeout=60)
    # Two visibility timeouts later, nothing has run again.
    stayed = oracle.stays(10, lambda: len(oracle.executions(rds)), seconds=8)

    published_at = {str(m.id): m.published_at.timestamp() for m in Message.objects.all()}
    waited = [e["at"] - published_at[e["id"]] for e in oracle.executions(rds) if e["id"] in set(delayed)]
    tally = report(delayed, rds, shortest_wait=round(min(waited, default=0), 3), stayed=stayed)
    assert settled
    assert waiting == (10, 0, 0)
    assert (tally.handled, tally.executions, tally.duplicates_skipped, tally.dead_lettered, tally.lost) == (
        10,
        10,
        0,
        0,
        0,
    )
    assert stayed
    assert len(waited) == 10
    assert min(waited) >= 5
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED, attempts=1).count() == 10


def test_handler_outliving_its_hard_time_limit_is_retried_then_dead_lettered_not_lost(
    stack: Stack, api_key: str, rds: redis.Redis
) -> None:
    """A handler that swallows SoftTimeLimitExceeded is stopped by the hard time limit.

    Each such attempt is a start that died with its pool child: the delivery must come
    back when its lease runs out and, after max_attempts starts, be dead-lettered
    (worker_lost) — neither stay pending for ever nor run without end.
    """
    fault_subscription_create(max_attempts=3)
    limits: dict[str, Any] = {
        "CELERY_BROKER_VISIBILITY_TIMEOUT": "6",
        "CELERY_TASK_TIME_LIMIT": "3",
        "CELERY_TASK_SOFT_TIME_LIMIT": "2",
        "SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT": "0.5",
        "SWITCHBOARD_WEBHOOK_READ_TIMEOUT": "1",
        "SWITCHBOARD_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    client = api_client(stack.start_web(**limits), api_key)
    stack.start_relay(**limits)
    stack.start_worker(concurrency=1, queues=[QUEUE], **limits)
    [stuck_id] = publish_batch(client, orders(1, "STUCK", simulate="outlive_time_limits", work_seconds=10), topic=TOPIC)

    settled = oracle.settle(timeout=60)

    delivery = Delivery.objects.get()
    tally = report(
        [stuck_id],
        rds,
        state=delivery.state,
        attempts=delivery.attempts,
        leases_held=rds.zcard(redis_keys.RUNNING),
        queued=rds.llen(QUEUE),
        scheduled=rds.zcard(redis_keys.SCHEDULED),
    )
    assert (settled, delivery.state, delivery.attempts) == (True, DeliveryState.DEAD, 3)
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (0, 3, 1, 0)
    assert DeadLetter.objects.get().reason == DeadLetterReason.WORKER_LOST


def test_the_workers_time_limits_apply_whichever_process_sent_the_task(
    stack: Stack, api_key: str, rds: redis.Redis
) -> None:
    """The worker checks its own time limits against its visibility timeout at start-up, so
    those are the limits its tasks must run under, not the publisher's (web and relay run
    with the defaults here: 300 s and 270 s)."""
    fault_subscription_create(max_attempts=2)
    client = api_client(stack.start_web(), api_key)
    stack.start_relay()
    stack.start_worker(
        concurrency=1,
        queues=[QUEUE],
        CELERY_BROKER_VISIBILITY_TIMEOUT="6",
        CELERY_TASK_TIME_LIMIT="3",
        CELERY_TASK_SOFT_TIME_LIMIT="2",
        SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT="0.5",
        SWITCHBOARD_WEBHOOK_READ_TIMEOUT="1",
    )
    [slow_id] = publish_batch(client, orders(1, "SLOW", work_seconds=4), topic=TOPIC)

    settled = oracle.settle(timeout=60)

    delivery = Delivery.objects.get()
    tally = report([slow_id], rds, state=delivery.state, attempts=delivery.attempts)
    assert (settled, delivery.state, delivery.attempts) == (True, DeliveryState.DEAD, 2)
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (0, 2, 1, 0)
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.reason == DeadLetterReason.EXHAUSTED
    assert (
        dead_letter.last_error.strip().splitlines()[-1]
        == "billiard.exceptions.SoftTimeLimitExceeded: SoftTimeLimitExceeded()"
    )


@pytest.mark.parametrize(
    ("limits", "refusal"),
    [
        pytest.param(
            # The lease keeper would renew the visibility every 2 s: too late for 2 s.
            {"CELERY_BROKER_VISIBILITY_TIMEOUT": "2", "SWITCHBOARD_LEASE_SECONDS": "6"},
            "SWITCHBOARD_LEASE_SECONDS (6) must not exceed CELERY_BROKER_VISIBILITY_TIMEOUT (2)",
            id="lease-longer-than-visibility",
        ),
        pytest.param(
            {"CELERY_TASK_TIME_LIMIT": "60", "CELERY_TASK_SOFT_TIME_LIMIT": "60"},
            "CELERY_TASK_SOFT_TIME_LIMIT (60) must be below CELERY_TASK_TIME_LIMIT (60)",
            id="soft-limit-equals-hard-limit",
        ),
    ],
)
def test_unsafe_time_limits_are_refused_at_start_up(stack: Stack, limits: dict[str, Any], refusal: str) -> None:
    worker = stack.start_worker(wait=False, **limits)
    wait_until(lambda: not worker.alive() or " ready." in worker.log(), timeout=60, what="the worker to exit")

    returncode = worker.popen.poll() if worker.popen else None
    print(f"worker_exit={returncode} refusal_logged={refusal in worker.log()} ready={' ready.' in worker.log()}")
    assert refusal in worker.log()
    assert " ready." not in worker.log()
    assert returncode not in (None, 0)
