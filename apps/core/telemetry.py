"""Counters and histograms kept in Redis, written through a small buffer in each process.

Every process (gunicorn worker, prefork child, relay) adds its counts to a buffer in
memory; a daemon thread sends the buffer to Redis every FLUSH_SECONDS in one pipelined
round trip (HINCRBY / HINCRBYFLOAT), and at exit. Counting therefore costs a dict update
on the hot path and never a round trip; the figures of every process on every host add
up in Redis, where `/metrics` reads them at scrape time (apps.monitoring.figures).

What a count can lose: the last FLUSH_SECONDS of a process killed with SIGKILL (the
buffer dies with it). A Redis error keeps the buffer for the next flush.

The fields of the hashes (`redis_keys.METRICS`, `redis_keys.METRICS_HISTOGRAMS`) are
named by the functions below, so writers and the reader spell them once. Names of topics
and subscriptions never hold ':' (apps.topology.models.NAME_PATTERN).
"""

import atexit
import bisect
import logging
import os
import threading
import time
from collections import defaultdict

import redis
from django.conf import settings
from django.db import transaction

from apps.core import redis_keys
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
# A Redis that stays away is reported once a minute, not twice a second.
WARN_EVERY_SECONDS = 60.0

# Upper bounds (seconds) of the histograms' buckets; the last bucket is +Inf.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# Delivery outcomes counted by the ledger (duplicates are counted in redis_keys.COUNTERS).
DELIVERED = "delivered"
RETRIED = "retried"
DEAD = "dead"

# The histograms, by the name their fields start with.
LATENCY = "latency"
DURATION = "duration"
HISTOGRAM_BUCKETS = {LATENCY: LATENCY_BUCKETS, DURATION: DURATION_BUCKETS}


def published_field(topic: str) -> str:
    return f"published:{topic}"


def outcome_field(subscription: str, outcome: str) -> str:
    return f"{outcome}:{subscription}"


def bucket_field(histogram: str, subscription: str, bucket: int) -> str:
    """Name the count of one bucket (its index in the histogram's bounds; len(bounds) is +Inf)."""
    return f"{histogram}:{subscription}:{bucket}"


def sum_field(histogram: str, subscription: str) -> str:
    return f"{histogram}:{subscription}:sum"


class _Buffer:
    """What this process counted and has not sent yet."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # One flush at a time: once flush() returns, nothing taken before it is still on its way.
        self.flushing = threading.Lock()
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.thread: threading.Thread | None = None
        self.warned_at = 0.0

    def take(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], float]]:
        with self.lock:
            counts, sums = self.counts, self.sums
            self.counts, self.sums = defaultdict(int), defaultdict(float)
        return counts, sums

    def put_back(self, counts: dict[tuple[str, str], int], sums: dict[tuple[str, str], float]) -> None:
        with self.lock:
            for name, n in counts.items():
                self.counts[name] += n
            for name, value in sums.items():
                self.sums[name] += value


_buffers: dict[int, _Buffer] = {}
_buffers_lock = threading.Lock()


def _buffer() -> _Buffer:
    """Return this process's buffer, starting its flusher on first use (a forked child gets its own)."""
    pid = os.getpid()
    found = _buffers.get(pid)
    if found is not None:
        return found
    with _buffers_lock:
        if pid not in _buffers:
            created = _Buffer()
            created.thread = threading.Thread(target=_flush_forever, name="telemetry-flush", daemon=True)
            _buffers[pid] = created
            created.thread.start()
        return _buffers[pid]


def enabled() -> bool:
    return bool(getattr(settings, "SWITCHBOARD_METRICS_COUNTING", True))


def count(field: str, n: int = 1, *, key: str = redis_keys.METRICS) -> None:
    """Add `n` to a counter (sent with the next flush)."""
    if not enabled():
        return
    buffer = _buffer()
    with buffer.lock:
        buffer.counts[(key, field)] += n


def count_on_commit(field: str, n: int = 1) -> None:
    """Add `n` to a counter once the current transaction commits (at once outside one)."""
    if enabled():
        transaction.on_commit(lambda: count(field, n))


def observe(histogram: str, subscription: str, seconds: float) -> None:
    """Record one observation in a subscription's histogram."""
    if not enabled():
        return
    bounds = HISTOGRAM_BUCKETS[histogram]
    bucket = bisect.bisect_left(bounds, seconds)
    buffer = _buffer()
    with buffer.lock:
        buffer.counts[(redis_keys.METRICS_HISTOGRAMS, bucket_field(histogram, subscription, bucket))] += 1
        buffer.sums[(redis_keys.METRICS_HISTOGRAMS, sum_field(histogram, subscription))] += seconds


def flush(client: redis.Redis | None = None) -> bool:
    """Send this process's buffer to Redis in one round trip; return False (keeping it) if Redis failed."""
    buffer = _buffers.get(os.getpid())
    if buffer is None:
        return True
    with buffer.flushing:
        return _send(buffer, client)


def _send(buffer: _Buffer, client: redis.Redis | None) -> bool:
    counts, sums = buffer.take()
    if not counts and not sums:
        return True
    try:
        # MULTI/EXEC: a flush that fails is applied not at all, so putting it back counts nothing twice.
        pipe = (client or redis_client()).pipeline(transaction=True)
        for (key, field), n in counts.items():
            pipe.hincrby(key, field, n)
        for (key, field), value in sums.items():
            pipe.hincrbyfloat(key, field, value)
        pipe.execute()
    except redis.RedisError as exc:
        buffer.put_back(counts, sums)
        now = time.monotonic()
        if now - buffer.warned_at >= WARN_EVERY_SECONDS:
            buffer.warned_at = now
            logger.warning("Cannot send metrics to Redis (%s); keeping them for the next try.", exc)
        return False
    return True


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush()


atexit.register(flush)
