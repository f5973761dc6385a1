"""The metrics buffer: counts wait in the process, go in one flush, survive a Redis error, wait for commit."""

from typing import Any

import pytest
import redis
from django.db import transaction

from apps.core import redis_keys, telemetry
from apps.core.redis import redis_client


@pytest.fixture
def rds(private_redis: str) -> redis.Redis:
    client = redis.Redis.from_url(private_redis)
    telemetry.flush()
    client.flushdb()
    return client


def test_counts_wait_in_the_process_until_flushed(rds: redis.Redis) -> None:
    telemetry.count("published:t", 2)
    telemetry.count("published:t")
    telemetry.observe(telemetry.DURATION, "s", 0.5)
    assert telemetry.flush()
    assert rds.hgetall(redis_keys.METRICS) == {b"published:t": b"3"}
    assert rds.hgetall(redis_keys.METRICS_HISTOGRAMS) == {
        telemetry.bucket_field(telemetry.DURATION, "s", telemetry.DURATION_BUCKETS.index(0.5)).encode(): b"1",
        telemetry.sum_field(telemetry.DURATION, "s").encode(): b"0.5",
    }


def test_a_flush_that_fails_keeps_the_counts_for_the_next(rds: redis.Redis) -> None:
    telemetry.count("published:t", 5)
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    assert telemetry.flush(unreachable) is False
    assert rds.hget(redis_keys.METRICS, "published:t") is None
    assert telemetry.flush(redis_client())
    assert rds.hget(redis_keys.METRICS, "published:t") == b"5"


@pytest.mark.django_db(transaction=True)
def test_counts_on_commit_are_kept_only_when_the_transaction_commits(rds: redis.Redis) -> None:
    with transaction.atomic():
        telemetry.count_on_commit("delivered:s")
    with pytest.raises(RuntimeError), transaction.atomic():
        telemetry.count_on_commit("delivered:s", 10)
        raise RuntimeError("roll back")
    assert telemetry.flush()
    assert rds.hget(redis_keys.METRICS, "delivered:s") == b"1"


def test_counting_off_sends_nothing(rds: redis.Redis, settings: Any) -> None:
    settings.SWITCHBOARD_METRICS_COUNTING = False
    telemetry.count("published:t")
    telemetry.observe(telemetry.LATENCY, "s", 1.0)
    assert telemetry.flush()
    assert rds.keys("*") == []
