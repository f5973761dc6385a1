"""The database queries and Redis round trips of the hot paths, counted (never timed).

A publish writes the message and its deliveries in one transaction and, after commit,
claims and sends them in another; a delivery attempt is one load and the ledger write in
the handler's transaction. Topics and subscriptions come from the per-process copy of
the topology (apps.topology.selectors), not from a query per publish.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core import redis_keys
from apps.core.consumers import ReceivedMessage, consumer, consumers_isolated
from apps.core.redis import redis_client
from apps.delivery import attempts
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.services import publish, publish_many
from apps.topology import selectors as topology_selectors
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

# Savepoints stand in for transactions inside the test's own transaction.
TRANSACTION = ("SAVEPOINT", "RELEASE SAVEPOINT")


def claim_statements() -> list[str]:
    """The fast path's claim; on PostgreSQL its commit does not wait for the WAL flush."""
    return ["SET", "UPDATE"] if connection.vendor == "postgresql" else ["UPDATE"]


@pytest.fixture(autouse=True)
def broker(celery_broker: str) -> None:
    """Send deliveries to the private redis-server too."""


@pytest.fixture(autouse=True)
def counting_consumer() -> Iterator[list[str]]:
    handled: list[str] = []
    with consumers_isolated():

        @consumer("test-costs")
        def handle(message: ReceivedMessage) -> None:
            handled.append(message.id)

        topology_selectors.topology_cache_clear()
        yield handled
        topology_selectors.topology_cache_clear()


def statements(queries: CaptureQueriesContext) -> list[str]:
    """Name each statement by its first word (two for savepoints), in order."""
    names = []
    for query in queries.captured_queries:
        words = query["sql"].split()
        names.append(" ".join(words[:2]) if words[0] == "RELEASE" else words[0])
    return names


# What the metrics' flusher thread sends (apps.core.telemetry), off the hot path and at
# any moment: not the block's own round trips.
TELEMETRY_FLUSH = ("multi", "exec", "hincrby", "hincrbyfloat")


@contextmanager
def redis_commands() -> Iterator[dict[str, int]]:
    """Count the Redis commands run inside the block, by name (the block's own, not Lua's)."""
    counts: dict[str, int] = {}
    redis_client().config_resetstat()
    yield counts
    stats: dict[str, Any] = redis_client().info("commandstats")  # type: ignore[assignment]
    counts.update({name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()})
    # PING: redis-py's health check of a pooled connection idle for over 25 s, whose
    # timing depends on what ran before the test, not on the block's work.
    for name in ("config|resetstat", "ping", *TELEMETRY_FLUSH):
        counts.pop(name, None)


def two_subscriptions(batch_size: int = 1) -> None:
    topic = TopicFactory(name="orders.created")
    for name in ("inventory-reserve", "billing-charge"):
        SubscriptionFactory(name=name, topic=topic, handler="test-costs", batch_size=batch_size)


def test_a_publish_is_two_inserts_then_one_claim_and_one_redis_round_trip(
    django_capture_on_commit_callbacks: Any,
) -> None:
    two_subscriptions()
    with django_capture_on_commit_callbacks(execute=True):
        publish(topic="orders.created", payload={"warm": "up"})  # loads the topology

    with (
        CaptureQueriesContext(connection) as queries,
        redis_commands() as commands,
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = publish(topic="orders.created", payload={"order_id": "1"})

    assert statements(queries) == [
        "SAVEPOINT", "INSERT", "INSERT", "RELEASE SAVEPOINT",  # message and deliveries
        "SAVEPOINT", *claim_statements(), "RELEASE SAVEPOINT",  # after commit: claim, send
    ]  # fmt: skip
    assert commands == {"lpush": 2}  # one per queue, in one pipeline (one round trip)
    assert Delivery.objects.filter(message=message, sent_at__isnull=False).count() == 2


def test_publish_many_costs_the_same_statements_for_forty_messages(
    django_capture_on_commit_callbacks: Any,
) -> None:
    two_subscriptions(batch_size=20)
    with django_capture_on_commit_callbacks(execute=True):
        publish(topic="orders.created", payload={"warm": "up"})

    with (
        CaptureQueriesContext(connection) as queries,
        redis_commands() as commands,
        django_capture_on_commit_callbacks(execute=True),
    ):
        # 40 messages: 80 deliveries fit one INSERT on SQLite too (999 parameters).
        results = publish_many(topic="orders.created", messages=[{"payload": {"n": n}} for n in range(40)])

    assert statements(queries) == [
        "SAVEPOINT", "INSERT", "INSERT", "RELEASE SAVEPOINT",
        "SAVEPOINT", *claim_statements(), "RELEASE SAVEPOINT",
    ]  # fmt: skip
    assert commands == {"lpush": 2}  # two batch tasks of 20 per queue, one LPUSH per queue, one round trip
    assert Delivery.objects.filter(message__in=results, sent_at__isnull=False).count() == 80


def test_a_delivery_attempt_is_one_load_and_the_ledger_write_in_the_handlers_transaction(
    counting_consumer: list[str],
) -> None:
    two_subscriptions()
    message = publish(topic="orders.created", payload={"order_id": "1"})
    delivery = Delivery.objects.get(message=message, subscription__name="billing-charge")

    with CaptureQueriesContext(connection) as queries, redis_commands() as commands:
        outcome = attempts.delivery_attempt(delivery_id=delivery.pk, queue="sb.billing-charge")

    assert outcome == DeliveryState.DELIVERED
    # The attempt's log row is written in the handler's transaction (no commit of its own).
    assert statements(queries) == ["SELECT", "SAVEPOINT", "UPDATE", "INSERT", "RELEASE SAVEPOINT"]
    # Two round trips: take the lease and count the start (one EVAL, running ZSCORE, ZADD,
    # INCR, EXPIRE); release the lease and forget the start count (one pipeline).
    assert commands == {"eval": 1, "zscore": 1, "zadd": 1, "incr": 1, "expire": 1, "zrem": 1, "del": 1}
    assert counting_consumer == [str(message.id)]


def test_a_first_run_of_a_batch_counts_every_start_with_its_leases_and_commits_once(
    counting_consumer: list[str],
) -> None:
    two_subscriptions(batch_size=50)
    messages = publish_many(topic="orders.created", messages=[{"payload": {"n": n}} for n in range(5)])
    ids = list(Delivery.objects.filter(subscription__name="billing-charge").order_by("pk").values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as queries, redis_commands() as commands:
        outcomes = attempts.delivery_attempt_batch(delivery_ids=ids, queue="sb.billing-charge")

    assert outcomes == [DeliveryState.DELIVERED] * 5
    # One transaction (a savepoint inside the test's) around a savepoint per delivery, and
    # one INSERT of the batch's attempt log.
    assert statements(queries) == [
        "SELECT", "SAVEPOINT", *["SAVEPOINT", "UPDATE", "RELEASE SAVEPOINT"] * 5, "INSERT", "RELEASE SAVEPOINT",
    ]  # fmt: skip
    # Two round trips: one EVAL takes the 5 leases and counts the 5 starts (none existed);
    # one pipeline releases the leases and forgets the starts.
    assert commands == {"eval": 1, "exists": 5, "zscore": 5, "zadd": 5, "incr": 5, "expire": 5, "zrem": 5, "del": 5}
    assert sorted(counting_consumer) == sorted(str(m.id) for m in messages)  # type: ignore[union-attr]
    assert list(Delivery.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == [1] * 5


def test_a_redelivered_batch_counts_each_start_as_it_runs_and_commits_each_delivery(
    counting_consumer: list[str],
) -> None:
    """After a crash (a start counted and never finished) the poison message must be
    charged its own starts, not those of the deliveries behind it."""
    two_subscriptions(batch_size=50)
    publish_many(topic="orders.created", messages=[{"payload": {"n": n}} for n in range(3)])
    ids = list(Delivery.objects.filter(subscription__name="billing-charge").order_by("pk").values_list("pk", flat=True))
    redis_client().set(redis_keys.starts(ids[0]), 1)  # its worker died running it

    with CaptureQueriesContext(connection) as queries, redis_commands() as commands:
        outcomes = attempts.delivery_attempt_batch(delivery_ids=ids, queue="sb.billing-charge")

    assert outcomes == [DeliveryState.DELIVERED] * 3
    assert statements(queries) == ["SELECT"] + ["SAVEPOINT", "UPDATE", "INSERT", "RELEASE SAVEPOINT"] * 3
    # The EVAL finds a start counter and counts nothing; each start is counted right before
    # its delivery runs, with the previous lease's release (3 pipelines); a last pipeline
    # releases the last lease.
    assert commands == {
        "eval": 1, "exists": 1, "zscore": 3, "zadd": 3, "incrby": 3, "expire": 3, "zrem": 3, "del": 3,
    }  # fmt: skip
    assert list(Delivery.objects.filter(pk__in=ids).order_by("pk").values_list("attempts", flat=True)) == [2, 1, 1]
