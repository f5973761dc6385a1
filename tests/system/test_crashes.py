"""Breakage tests with real processes: load, worker SIGKILL, warm and cold shutdown, relay
SIGKILL, and what stays behind in Redis.

Every test publishes through the REST API (gunicorn) to a topic of its own whose one
subscription runs `fault-reserve` (tests/fault_app), and prints one line:
published, handled (effects), executions (handler runs, including crashed and rolled-back
ones), duplicates_skipped (Switchboard's counter), dead_lettered and lost.
"""

import os
import signal
import threading
import time
from collections import Counter
from functools import partial
from typing import Any

import httpx
import psutil
import pytest
import redis

from apps.core import redis_keys
from apps.delivery import broker
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from apps.topology.models import Subscription
from tests.fault_app.topology import QUEUE, TOPIC, fault_subscription_create
from tests.harness.processes import ManagedProcess, wait_until
from tests.harness.redis_server import int_reply
from tests.harness.stack import Stack, WebServer
from tests.system import oracle
from tests.system.api import api_client, orders, publish_batch
from tests.system.oracle import report

# A dead worker's deliveries come back within seconds: its leases run out after 3 s, and
# task messages it had fetched but not started return after the 10 s visibility timeout.
# Every process of a test gets the same settings, as one deployment would: a task message
# carries the time limits of the process that sent it.
FAST_RECOVERY: dict[str, Any] = {
    "SWITCHBOARD_LEASE_SECONDS": "3",
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "10",
    "CELERY_TASK_TIME_LIMIT": "8",
    "CELERY_TASK_SOFT_TIME_LIMIT": "7",
    "SWITCHBOARD_WEBHOOK_CONNECT_TIMEOUT": "1",
    "SWITCHBOARD_WEBHOOK_READ_TIMEOUT": "2",
}


def start_with_fast_recovery(stack: Stack, api_key: str, *, concurrency: int) -> tuple[httpx.Client, ManagedProcess]:
    """Start gunicorn, the relay and one worker, all with FAST_RECOVERY; return an API client and the worker."""
    client = api_client(stack.start_web(**FAST_RECOVERY), api_key)
    stack.start_relay(**FAST_RECOVERY)
    return client, stack.start_worker(concurrency=concurrency, queues=[QUEUE], **FAST_RECOVERY)


@pytest.fixture
def faults(transactional_db: None) -> Subscription:
    return fault_subscription_create()


@pytest.fixture
def web(stack: Stack, faults: Subscription) -> WebServer:
    return stack.start_web()


def delivered_once_each(published: list[str]) -> None:
    """Assert every published message has exactly one effect and a delivered delivery."""
    assert oracle.handled_ids() == set(published)
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == len(published)


# --- 1. Load --------------------------------------------------------------------------


@pytest.mark.sqlite_too
@pytest.mark.timeout(600)
def test_load_10000_through_the_api_with_two_workers_leaves_no_garbage_in_redis(
    stack: Stack, client: httpx.Client, rds: redis.Redis
) -> None:
    stack.start_relay()
    for _ in range(2):
        stack.start_worker(concurrency=1, queues=[QUEUE])
    started = time.monotonic()
    published = publish_batch(client, orders(10_000, "L"), topic=TOPIC)
    published_s = time.monotonic() - started

    settled = oracle.settle(timeout=480)

    tally = report(published, rds, publish_s=round(published_s, 1), drain_s=round(time.monotonic() - started, 1))
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (10_000, 10_000, 0, 0)
    delivered_once_each(published)
    assert Delivery.objects.filter(attempts=1).count() == 10_000
    # Every task the workers ran either handled its delivery or was skipped and counted.
    assert oracle.task_outcomes(stack.of_kind("worker")) == {
        "delivered": 10_000,
        **({"duplicate": tally.duplicates_skipped} if tally.duplicates_skipped else {}),
    }
    # 7. Growth: no Celery results and nothing per message without a TTL is left in Redis.
    print("redis_keys=" + ",".join(sorted(key.decode() for key in rds.scan_iter(count=1000))))
    assert redis_leftovers(rds) == {"unexpected": [], "starts_without_ttl": [], "starts": 0}
    # 10,000 messages left no field per message in the telemetry hashes: at most a
    # histogram's buckets and a few counters per subscription.
    assert telemetry_fields(rds) <= 50 * Subscription.objects.count()


# Keys Switchboard and kombu may keep for good: queues, kombu's ack emulation and binding
# tables (`_kombu.binding.<exchange>`, `_kombu.binding_permanent.<exchange>`,
# `_kombu.binding_deadlines`), the delay schedule, the lease set and the counters; and this
# suite's execution log. None grows with the number of messages.
FIXED_KEYS = {
    broker.UNACKED,
    broker.UNACKED_INDEX,
    broker.UNACKED_MUTEX,
    redis_keys.SCHEDULED,
    redis_keys.SCHEDULED_CLAIMED,
    redis_keys.RUNNING,
    redis_keys.COUNTERS,
    # Telemetry: fields per subscription, topic or worker node, never per message.
    redis_keys.METRICS,
    redis_keys.METRICS_HISTOGRAMS,
    redis_keys.CONSUMERS,
    "fault:executions",
}
FIXED_PREFIXES = (
    redis_keys.SUBSCRIPTION_QUEUE_PREFIX,
    redis_keys.RATE_LIMIT_PREFIX,
    "_kombu.binding.",
    "_kombu.binding_",
)


def telemetry_fields(client: redis.Redis) -> int:
    return sum(int_reply(client.hlen(key)) for key in (redis_keys.METRICS, redis_keys.METRICS_HISTOGRAMS))


def redis_leftovers(client: redis.Redis) -> dict[str, object]:
    """Sort every key in Redis: unexpected ones, start counters (must expire), the rest allowed."""
    unexpected, starts, starts_without_ttl = [], 0, []
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        if key.startswith(redis_keys.STARTS_PREFIX):
            starts += 1
            if int(client.ttl(key)) < 0:  # type: ignore[arg-type]
                starts_without_ttl.append(key)
        elif not (key in FIXED_KEYS or key.startswith(FIXED_PREFIXES)):
            unexpected.append(key)
    return {"unexpected": sorted(unexpected), "starts_without_ttl": starts_without_ttl, "starts": starts}


@pytest.mark.sqlite_too
@pytest.mark.timeout(600)
def test_backlog_of_10000_drains_once_workers_start(stack: Stack, client: httpx.Client, rds: redis.Redis) -> None:
    stack.start_relay()
    published = publish_batch(client, orders(10_000, "B"), topic=TOPIC)
    assert rds.llen(QUEUE) == 10_000
    assert Delivery.objects.filter(sent_at__isnull=True).count() == 0

    for _ in range(2):
        stack.start_worker(concurrency=1, queues=[QUEUE])
    started = time.monotonic()
    settled = oracle.settle(timeout=480)

    tally = report(published, rds, drain_s=round(time.monotonic() - started, 1))
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (10_000, 10_000, 0, 0)
    delivered_once_each(published)
    assert Delivery.objects.filter(attempts=1).count() == 10_000
    assert rds.llen(QUEUE) == 0


# --- 2. Worker SIGKILL ----------------------------------------------------------------


@pytest.mark.sqlite_too
@pytest.mark.timeout(600)
def test_worker_group_sigkilled_halfway_through_10000_loses_nothing(
    stack: Stack, faults: Subscription, api_key: str, rds: redis.Redis
) -> None:
    client = api_client(stack.start_web(**FAST_RECOVERY), api_key)
    stack.start_relay(**FAST_RECOVERY)
    # A hundred messages in the middle take 200 ms each, so the kill most likely finds both
    # pool children inside a handler.
    items = orders(10_000, "K")
    for item in items[4_900:5_000]:
        item["payload"]["work_seconds"] = 0.2
    published = publish_batch(client, items, topic=TOPIC)
    worker = stack.start_worker(concurrency=2, queues=[QUEUE], **FAST_RECOVERY)
    wait_until(lambda: oracle.handled_count() >= 4_920, timeout=360, interval=0.1, what="half the messages")

    worker.kill()
    committed = oracle.handled_ids()
    in_flight = set(oracle.runs_per_message(rds)) - committed  # ran, but died before committing
    stack.start_worker(concurrency=2, queues=[QUEUE], **FAST_RECOVERY)
    settled = oracle.settle(timeout=480)

    tally = report(published, rds, handled_before_kill=len(committed), in_flight_at_kill=len(in_flight))
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert 0 < len(committed) < 10_000
    assert (tally.handled, tally.dead_lettered, tally.lost) == (10_000, 0, 0)
    delivered_once_each(published)
    # Only what the killed pool children were running ran twice, and the rerun counts as attempt 2.
    runs = oracle.runs_per_message(rds)
    assert {m for m, n in runs.items() if n > 1} == in_flight
    assert set(runs.values()) <= {1, 2}
    assert tally.executions == 10_000 + len(in_flight)
    assert len(in_flight) <= 2
    second_attempts = {str(m) for m in Delivery.objects.filter(attempts=2).values_list("message_id", flat=True)}
    assert in_flight <= second_attempts
    assert len(second_attempts) <= 2
    assert Delivery.objects.filter(attempts__gt=2).count() == 0


def pool_children(worker: ManagedProcess) -> set[int]:
    return {child.pid for child in psutil.Process(worker.pid).children(recursive=True)}


@pytest.mark.sqlite_too
def test_pool_child_sigkilled_mid_message_is_rerun_and_delivered_once(
    stack: Stack, faults: Subscription, api_key: str, rds: redis.Redis
) -> None:
    client, worker = start_with_fast_recovery(stack, api_key, concurrency=2)
    [long_id] = publish_batch(client, orders(1, "LONG", work_seconds=4), topic=TOPIC)
    wait_until(lambda: oracle.executions(rds), timeout=30, what="the long handler to start")

    [first_run] = oracle.executions(rds)
    assert first_run["pid"] in pool_children(worker)
    os.kill(first_run["pid"], signal.SIGKILL)
    settled = oracle.settle(timeout=60)

    tally = report([long_id], rds, killed_child=first_run["pid"])
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (1, 2, 0, 0)
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)
    first, second = oracle.executions(rds)
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert second["pid"] != first["pid"]
    assert worker.alive()
    # The requeued task message found the dead child's lease still held and was skipped;
    # the relay sent the delivery again once the lease ran out.
    assert oracle.task_outcomes(stack.of_kind("worker")) == {"delivered": 1, "duplicate": tally.duplicates_skipped}


# --- 3. Warm and cold shutdown --------------------------------------------------------


def reached(count: int) -> bool:
    return oracle.handled_count() >= count


def test_warm_shutdown_cycles_during_a_stream_lose_nothing_and_run_nothing_twice(
    stack: Stack, web: WebServer, api_key: str, rds: redis.Redis
) -> None:
    stack.start_relay()
    published: list[str] = []

    def stream() -> None:
        with api_client(web, api_key) as c:
            for batch in range(20):
                published.extend(publish_batch(c, orders(100, f"W{batch}"), topic=TOPIC))
                time.sleep(0.3)

    publisher = threading.Thread(target=stream)
    worker = stack.start_worker(concurrency=2, queues=[QUEUE])
    publisher.start()
    stopped_at = []
    for threshold in (300, 750, 1_200):
        wait_until(partial(reached, threshold), timeout=120, interval=0.2, what=f"{threshold} messages handled")
        # Warm shutdown, as `docker stop` or systemd (KillMode=mixed) asks the main process:
        # finish what runs, stop taking more.
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.popen is not None
        assert worker.popen.wait(timeout=60) == 0
        stopped_at.append(oracle.handled_count())
        worker = stack.start_worker(concurrency=2, queues=[QUEUE])
    publisher.join(timeout=120)
    settled = oracle.settle(timeout=120)

    tally = report(published, rds, handled_at_each_stop=stopped_at)
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert len(published) == 2_000
    assert all(0 < n < 2_000 for n in stopped_at)
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (2_000, 2_000, 0, 0)
    delivered_once_each(published)
    assert Delivery.objects.filter(attempts=1).count() == 2_000
    assert oracle.task_outcomes(stack.of_kind("worker")) == {
        "delivered": 2_000,
        **({"duplicate": tally.duplicates_skipped} if tally.duplicates_skipped else {}),
    }


def test_cold_shutdown_during_a_long_handler_loses_nothing(
    stack: Stack, faults: Subscription, api_key: str, rds: redis.Redis
) -> None:
    client, worker = start_with_fast_recovery(stack, api_key, concurrency=1)
    [long_id] = publish_batch(client, orders(1, "COLD", work_seconds=3), topic=TOPIC)
    wait_until(lambda: oracle.executions(rds), timeout=30, what="the long handler to start")
    children = pool_children(worker)

    os.kill(worker.pid, signal.SIGQUIT)  # cold shutdown: stop at once, running task included
    assert worker.popen is not None
    returncode = worker.popen.wait(timeout=30)
    wait_until(lambda: not any(psutil.pid_exists(pid) for pid in children), timeout=30, what="the pool to end")
    handled_after_quit = oracle.handled_count()
    published = [long_id, *publish_batch(client, orders(50, "AFTER"), topic=TOPIC)]
    stack.start_worker(concurrency=1, queues=[QUEUE], **FAST_RECOVERY)
    settled = oracle.settle(timeout=60)

    tally = report(published, rds, worker_exit=returncode, handled_after_quit=handled_after_quit)
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert handled_after_quit == 0
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (51, 52, 0, 0)
    delivered_once_each(published)
    long_delivery = Delivery.objects.get(message_id=long_id)
    assert long_delivery.attempts == 2
    assert oracle.runs_per_message(rds)[long_id] == 2


# --- 4. Relay SIGKILL -----------------------------------------------------------------


def test_relay_sigkilled_while_delayed_messages_fall_due(stack: Stack, client: httpx.Client, rds: redis.Redis) -> None:
    relay = stack.start_relay()
    stack.start_worker(concurrency=2, queues=[QUEUE])
    items = orders(300, "D")
    for n, item in enumerate(items):
        item["delay_seconds"] = 1 + (n % 21) / 10  # due from 1.0 to 3.0 s after publishing
    published = publish_batch(client, items, topic=TOPIC)
    assert rds.zcard(redis_keys.SCHEDULED) == 300
    wait_until(lambda: oracle.handled_count() >= 30, timeout=60, interval=0.05, what="the first due messages")

    relay.kill()
    handled_at_kill = oracle.handled_count()
    claimed_at_kill = rds.zcard(redis_keys.SCHEDULED_CLAIMED)  # claimed by the dead relay, maybe not sent
    time.sleep(1)
    stack.start_relay()
    settled = oracle.settle(timeout=90)
    # A claim the killed relay never released is taken again when its lease (30 s) runs out.
    wait_until(lambda: oracle.scheduled(rds) == 0, timeout=60, what="the schedule and its claims to empty")
    time.sleep(2)

    tally = report(published, rds, handled_at_relay_kill=handled_at_kill, claimed_at_relay_kill=claimed_at_kill)
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert 0 < handled_at_kill < 300
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (300, 300, 0, 0)
    delivered_once_each(published)
    # None ran before it was due.
    due_at = {str(m.id): m.deliver_at.timestamp() for m in Message.objects.all()}  # type: ignore[union-attr]
    assert [e for e in oracle.executions(rds) if e["at"] < due_at[e["id"]]] == []


# --- 7. Growth: worker children recycled ----------------------------------------------


def test_pool_children_are_recycled_without_losing_messages(
    stack: Stack, client: httpx.Client, rds: redis.Redis
) -> None:
    stack.start_relay()
    worker = stack.start_worker(concurrency=2, queues=[QUEUE], CELERY_WORKER_MAX_TASKS_PER_CHILD="100")
    published = publish_batch(client, orders(1_000, "R"), topic=TOPIC)
    settled = oracle.settle(timeout=120)

    runs_per_pid = Counter(entry["pid"] for entry in oracle.executions(rds))
    tally = report(published, rds, child_pids=len(runs_per_pid), most_runs_in_one_child=max(runs_per_pid.values()))
    assert settled, f"{oracle.open_deliveries()} deliveries still open"
    assert (tally.handled, tally.executions, tally.dead_lettered, tally.lost) == (1_000, 1_000, 0, 0)
    delivered_once_each(published)
    assert len(runs_per_pid) >= 10
    assert max(runs_per_pid.values()) <= 100
    assert worker.pid not in runs_per_pid
