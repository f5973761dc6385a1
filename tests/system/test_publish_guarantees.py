"""What a publish promises, with real processes: it commits or rolls back with the caller's
transaction (transactional outbox), and an Idempotency-Key publishes once however many
concurrent repeats arrive.

A real celery worker and the relay deliver through a private Redis; the demo handlers'
effect rows are the oracle. Each test prints published, handled, duplicates, dead letters
and lost.
"""

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db import transaction

from apps.core.redis import redis_client
from apps.delivery import tasks as delivery_tasks
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from apps.publishing.services import publish
from project.celery import app as celery_app
from tests.harness.redis_server import RedisServer
from tests.harness.stack import Stack, WebServer
from tests.system import oracle
from tests.system.api import ORDERS, api_client, order
from tests.system.faults import queued

SETTLE_SECONDS = 120.0
# Longer than the outbox grace (2 s) plus a relay sweep interval (1 s): anything left in
# the outbox would have been sent by then.
OUTBOX_SWEEP_WAIT = 4.0


@pytest.fixture(autouse=True)
def _quiet_http_client_log() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _forget_broker_connections() -> None:
    """Drop this process's pooled broker connections, as Celery does after a fork."""
    app: Any = celery_app
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def in_process_broker(redis_server: RedisServer, settings: Any) -> Iterator[None]:
    """Point this process's Celery producer and Redis client at the private Redis; restore after."""
    assert delivery_tasks.deliver.app is celery_app
    conf: Any = celery_app.conf
    previous = conf.broker_url
    settings.REDIS_URL = redis_server.url
    conf.broker_url = redis_server.url
    _forget_broker_connections()
    redis_client.cache_clear()
    yield
    conf.broker_url = previous
    _forget_broker_connections()
    redis_client.cache_clear()


class CallerFailed(Exception):
    """The caller's own work failed, so its transaction rolls back."""


def test_publish_commits_or_rolls_back_with_the_callers_transaction(
    stack: Stack, redis_server: RedisServer, demo_topology: None, in_process_broker: None
) -> None:
    worker = stack.start_worker(concurrency=1)
    stack.start_relay()

    with pytest.raises(CallerFailed), transaction.atomic():
        rolled_back = publish(topic="orders.created", payload=order(1))
        raise CallerFailed
    with transaction.atomic():
        committed = publish(topic="orders.created", payload=order(2))
        with pytest.raises(CallerFailed), transaction.atomic():
            in_rolled_back_savepoint = publish(topic="orders.created", payload=order(3))
            raise CallerFailed
    settled = oracle.settle(lambda: oracle.nothing_open() and len(oracle.charged_ids()) == 1, timeout=SETTLE_SECONDS)
    time.sleep(OUTBOX_SWEEP_WAIT)

    result = oracle.tally([str(committed.id)], redis_server.client())
    print(result.line(rolled_back=2, worker_tasks=oracle.tasks_succeeded(worker)))
    assert settled, oracle.open_deliveries_described()
    assert [str(m) for m in Message.objects.values_list("id", flat=True)] == [str(committed.id)]
    assert oracle.reserved_ids() == [str(committed.id)]
    assert oracle.charged_ids() == [str(committed.id)]
    assert sorted(Delivery.objects.values_list("subscription__name", "state", "attempts")) == [
        ("billing-charge", DeliveryState.DELIVERED, 1),
        ("inventory-reserve", DeliveryState.DELIVERED, 1),
    ]
    assert str(rolled_back.id) not in oracle.reserved_ids() + oracle.charged_ids()
    assert str(in_rolled_back_savepoint.id) not in oracle.reserved_ids() + oracle.charged_ids()
    # Nothing of the rolled-back publishes reached Redis: the worker ran exactly two tasks.
    assert oracle.tasks_succeeded(worker) == 2
    assert queued(redis_server) == 0
    assert (result.published, result.handled, result.duplicates_skipped, result.dead_lettered, result.lost) == (
        1,
        2,
        0,
        0,
        0,
    )


def test_concurrent_repeats_of_an_idempotent_publish_publish_once(
    stack: Stack, redis_server: RedisServer, web: WebServer, api_key: str
) -> None:
    stack.start_worker(concurrency=2)
    stack.start_relay()
    client = api_client(web, api_key)
    body = {"payload": order(7)}
    headers = {"Idempotency-Key": "order-7-created"}
    start = threading.Barrier(100)

    def repeat(_: int) -> httpx.Response:
        start.wait(timeout=60)
        return client.post(ORDERS, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=100) as pool:
        answers = list(pool.map(repeat, range(100)))
    settled = oracle.settle(lambda: oracle.nothing_open() and len(oracle.charged_ids()) == 1, timeout=SETTLE_SECONDS)
    later = client.post(ORDERS, json=body, headers=headers)
    changed = client.post(ORDERS, json={"payload": {**order(7), "total": "2.00"}}, headers=headers)

    statuses = [a.status_code for a in answers]
    first = [a for a in answers if a.status_code == 202 and "Idempotent-Replayed" not in a.headers]
    replayed = [a for a in answers if a.status_code == 202 and "Idempotent-Replayed" in a.headers]
    in_flight = [a for a in answers if a.status_code == 409]
    accepted_ids = sorted({a.json()["id"] for a in first + replayed})
    result = oracle.tally(accepted_ids, redis_server.client())
    print(result.line(repeats=100, first=len(first), replayed=len(replayed), in_flight=len(in_flight)))
    assert settled, oracle.open_deliveries_described()
    assert sorted(set(statuses)) in ([202], [202, 409])
    assert len(first) == 1
    assert len(first) + len(replayed) + len(in_flight) == 100
    assert {a.headers["Idempotent-Replayed"] for a in replayed} <= {"true"}
    assert all(a.json() == first[0].json() for a in replayed)
    assert len(accepted_ids) == 1
    for answer in in_flight:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["status"] == 409
    assert [str(m) for m in Message.objects.values_list("id", flat=True)] == accepted_ids
    assert oracle.reserved_ids() == accepted_ids
    assert oracle.charged_ids() == accepted_ids
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 2
    assert (later.status_code, later.headers["Idempotent-Replayed"], later.json()) == (202, "true", first[0].json())
    assert changed.status_code == 422
    assert changed.headers["content-type"] == "application/problem+json"
    problem = changed.json()
    assert (problem["status"], problem["title"]) == (422, "Idempotency key reused")
    assert problem["detail"] == "The idempotency key 'order-7-created' was used with a different request."
    assert Message.objects.count() == 1
    assert (result.published, result.handled, result.dead_lettered, result.lost) == (1, 2, 0, 0)
