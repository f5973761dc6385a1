"""The figures read what Redis and the database hold now: counters, histograms and gauges."""

import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from apps.core import redis_keys, telemetry
from apps.deadletters.models import DeadLetterReason
from apps.delivery import broker, scheduler
from apps.delivery.models import DeliveryState
from apps.monitoring import worker_heartbeat
from apps.monitoring.figures import CONSUMER_STALE_SECONDS, Histogram, figures_read
from tests.factories import DeadLetterFactory, DeliveryFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rds(celery_broker: str) -> redis.Redis:
    """The private Redis, without what this process counted in earlier tests."""
    client = redis.Redis.from_url(celery_broker)
    telemetry.flush()
    client.flushdb()
    return client


def test_counters_and_histograms_add_up_from_the_buffer(rds: redis.Redis) -> None:
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing", topic=topic)
    telemetry.count(telemetry.published_field("orders.created"), 3)
    telemetry.count(telemetry.outcome_field("billing", telemetry.DELIVERED), 2)
    telemetry.count(telemetry.outcome_field("billing", telemetry.RETRIED))
    telemetry.count(telemetry.outcome_field("billing", telemetry.DEAD))
    for seconds in (0.003, 0.2, 0.2, 4000.0):
        telemetry.observe(telemetry.LATENCY, "billing", seconds)
    telemetry.observe(telemetry.DURATION, "billing", 0.02)
    rds.hset(redis_keys.COUNTERS, mapping={"duplicates:billing": 4, "unroutable:orders.created": 5})
    assert telemetry.flush()

    figures = figures_read()

    assert figures.topic("orders.created").published == 3
    assert figures.topic("orders.created").unroutable == 5
    billing = figures.subscription("billing")
    assert billing.deliveries == {"delivered": 2, "retried": 1, "dead": 1, "duplicate": 4}
    assert billing.latency.count == 4
    assert billing.latency.sum == pytest.approx(4000.403)
    # Cumulative: 0.003 <= 0.005; the two 0.2 <= 0.25; 4000 only in +Inf.
    bounds = dict(zip((*telemetry.LATENCY_BUCKETS, float("inf")), billing.latency.cumulative, strict=True))
    assert (bounds[0.005], bounds[0.1], bounds[0.25], bounds[1800.0], bounds[float("inf")]) == (1, 1, 3, 3, 4)
    assert billing.handler_duration.count == 1


def test_gauges_are_read_from_queues_schedule_outbox_ledger_and_heartbeats(rds: redis.Redis) -> None:
    topic = TopicFactory.create(name="orders.created")
    billing = SubscriptionFactory.create(name="billing", topic=topic, paused=True)
    SubscriptionFactory.create(name="idle", topic=topic)
    now = timezone.now()
    # Two unsent (the outbox), one open and due for 60 s, one retrying later, one delivered.
    DeliveryFactory.create(subscription=billing, message__topic=topic, created_at=now - timedelta(seconds=60))
    DeliveryFactory.create(subscription=billing, message__topic=topic, created_at=now - timedelta(seconds=5))
    DeliveryFactory.create(
        subscription=billing,
        message__topic=topic,
        state=DeliveryState.RETRYING,
        created_at=now - timedelta(seconds=600),
        retry_at=now + timedelta(seconds=30),
        sent_at=now,
    )
    DeliveryFactory.create(subscription=billing, message__topic=topic, state=DeliveryState.DELIVERED, sent_at=now)
    dead = DeliveryFactory.create(subscription=billing, message__topic=topic, state=DeliveryState.DEAD, sent_at=now)
    DeadLetterFactory.create(delivery=dead, reason=DeadLetterReason.PERMANENT)
    DeadLetterFactory.create(
        delivery__subscription=billing,
        delivery__message__topic=topic,
        delivery__state=DeliveryState.DELIVERED,
        delivery__sent_at=now,
        replayed_at=now,
    )
    rds.lpush(billing.queue, b"t1", b"t2", b"t3")
    scheduler.schedule(rds, [(scheduler.ScheduledDelivery(billing.queue, 99), time.time() + 30)])
    rds.hset(broker.UNACKED, "tag-1", '[{"body": ""}, "", "sb.billing"]')
    worker_heartbeat.heartbeat_write(rds, node="w1@host", queues=["sb.billing", "sb.idle"], processes=2)
    worker_heartbeat.heartbeat_write(rds, node="w2@host", queues=["sb.idle"], processes=2)
    stale = f'{{"queues": ["sb.billing"], "at": {time.time() - CONSUMER_STALE_SECONDS - 1}, "processes": 1}}'
    rds.hset(redis_keys.CONSUMERS, "gone@host", stale)

    figures = figures_read()

    got = figures.subscription("billing")
    assert got.paused is True
    assert got.depth == {"ready": 3, "scheduled": 1, "in_flight": 1, "outbox": 2}
    assert got.oldest_open_age_seconds == pytest.approx(60, abs=5)
    assert got.dead_letters == {"exhausted": 0, "permanent": 1, "expired": 0, "worker_lost": 0, "no_handler": 0}
    assert got.consumers == 1
    idle = figures.subscription("idle")
    assert (idle.depth, idle.oldest_open_age_seconds, idle.consumers, idle.paused) == (
        {"ready": 0, "scheduled": 0, "in_flight": 0, "outbox": 0},
        0.0,
        2,
        False,
    )
    assert [s.name for s in figures_read(subscription="idle").subscriptions] == ["idle"]


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    histogram = Histogram(bounds=(1.0, 2.0), cumulative=(0, 10, 10), sum=15.0)
    assert histogram.quantile(0.5) == pytest.approx(1.5)
    assert Histogram(bounds=(1.0,), cumulative=(0, 0), sum=0).quantile(0.5) is None
