"""What every system under test does per message: the same payload, the same handler.

The handler is two Redis calls, as in DESIGN.md's anchors: it appends `now - published_at`
(the latency from publish to handler start) to a list, then increments the counter
that the benchmark polls. The counter comes last, so once it reaches N the N latencies
are in the list.
"""

import os
import time
from typing import Any

import redis

COUNTER_KEY = "bench:handled"
LATENCY_KEY = "bench:latency"
# Worker processes add one here when they are ready to consume.
READY_KEY = "bench:ready"
RAW_CELERY_QUEUE = "bench.raw"
RAW_DRAMATIQ_QUEUE = "bench"

# An order as a shop would publish it: about 300 bytes of compact JSON.
PAYLOAD: dict[str, Any] = {
    "order_id": "ord_01J9Z6Q4V8X2M3N5P7R9T1W3Y5",
    "customer": {"id": "cus_7f3a9c2e", "email": "jane.doe@example.com"},
    "items": [
        {"sku": "SKU-100234", "qty": 2, "price": "19.99"},
        {"sku": "SKU-200871", "qty": 1, "price": "149.00"},
    ],
    "total": "188.98",
    "region": "eu",
    "note": "Leave the parcel with the neighbour at number 12.",
}

_client: redis.Redis | None = None
_client_pid: int | None = None


def redis_url() -> str:
    return os.environ["BENCH_REDIS_URL"]


def client() -> redis.Redis:
    """Return this process's Redis client (a new one after fork: sockets are not shared)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(redis_url())
        _client_pid = os.getpid()
    return _client


def handle(published_at: float) -> None:
    """Do the handler work: record the latency to handler start, count the message."""
    started = time.time()
    connection = client()
    connection.rpush(LATENCY_KEY, f"{started - published_at:.6f}")
    connection.incr(COUNTER_KEY)


def mark_ready() -> None:
    """Tell the benchmark that one more worker process is consuming."""
    client().incr(READY_KEY)
