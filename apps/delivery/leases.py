"""Leases on running deliveries: no delivery runs twice at once, and a dead worker's
deliveries come back within seconds.

When a worker starts a delivery it takes a lease: an entry in the sorted set
`sb:running`, scored by when the lease ends, and a start counter per delivery. A thread
in the worker process renews the leases of what it runs (and the broker's visibility
of the task message), so a handler may run as long as its time limit allows.

- Another copy of the same delivery (a redelivery, a second send) finds the lease held
  and is skipped: nothing runs twice at once.
- A worker killed mid-delivery stops renewing; once the lease has run out, the relay
  moves the delivery to the delay schedule, due at once, and it runs again — seconds
  after the crash, not when Redis's visibility timeout would have returned it.
- The start counter survives crashes, so a poison message that kills its worker every
  time is dead-lettered after the subscription's max attempts instead of looping.
"""

import logging
import threading
import time

import redis
from django.conf import settings

from apps.delivery import scheduler

logger = logging.getLogger(__name__)

RUNNING_KEY = "sb:running"
STARTS_KEY_PREFIX = "sb:starts:"
# Start counters outlive any retry schedule, then disappear on their own.
STARTS_TTL_SECONDS = 7 * 24 * 3600
# kombu's Redis transport keeps unacknowledged task messages in this sorted set,
# scored by when they were handed out; bumping the score renews their visibility.
KOMBU_UNACKED_INDEX = "unacked_index"

# KEYS: running, starts. ARGV: member, lease end, now, starts ttl.
# Returns the start number, or -1 when a live lease is held by another run.
_START = """
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[3]) then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return n
"""

# KEYS: running, scheduled. ARGV: now, limit.
# Expired leases move to the delay schedule, due now.
_RECLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZADD', KEYS[2], ARGV[1], member)
end
return #expired
"""


def lease_seconds() -> float:
    return float(settings.SWITCHBOARD_LEASE_SECONDS)


def _member(queue: str, delivery_id: int) -> bytes:
    return scheduler.ScheduledDelivery(queue=queue, delivery_id=delivery_id).encode()


def lease_start(client: redis.Redis, *, queue: str, delivery_id: int) -> int:
    """Take the lease of a delivery; return its start number, or -1 if it is running elsewhere."""
    now = time.time()
    starts = client.eval(
        _START,
        2,
        RUNNING_KEY,
        f"{STARTS_KEY_PREFIX}{delivery_id}",
        _member(queue, delivery_id).decode(),
        str(now + lease_seconds()),
        str(now),
        str(STARTS_TTL_SECONDS),
    )
    return int(starts)  # type: ignore[arg-type]


def lease_finish(client: redis.Redis, *, queue: str, delivery_id: int, final: bool) -> None:
    """Release the lease; forget the start count once the delivery is delivered or dead."""
    pipe = client.pipeline(transaction=False)
    pipe.zrem(RUNNING_KEY, _member(queue, delivery_id))
    if final:
        pipe.delete(f"{STARTS_KEY_PREFIX}{delivery_id}")
    pipe.execute()


def leases_reclaim(client: redis.Redis, *, limit: int = 500) -> int:
    """Send deliveries whose worker stopped renewing their lease back to the schedule, due now."""
    return int(client.eval(_RECLAIM, 2, RUNNING_KEY, scheduler.SCHEDULED_KEY, str(time.time()), str(limit)))  # type: ignore[arg-type]


class LeaseKeeper:
    """Renew, from a background thread, the leases of what this process is running."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._members: set[bytes] = set()
        self._broker_tags: set[str] = set()
        self._thread: threading.Thread | None = None

    def hold(self, *, queue: str, delivery_id: int, broker_tag: str | None) -> None:
        with self._lock:
            self._members.add(_member(queue, delivery_id))
            if broker_tag:
                self._broker_tags.add(broker_tag)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._renew_forever, name="lease-keeper", daemon=True)
                self._thread.start()

    def release(self, *, queue: str, delivery_id: int, broker_tag: str | None) -> None:
        with self._lock:
            self._members.discard(_member(queue, delivery_id))
            if broker_tag:
                self._broker_tags.discard(broker_tag)

    def _renew_forever(self) -> None:
        while True:
            time.sleep(lease_seconds() / 3)
            with self._lock:
                members, tags = list(self._members), list(self._broker_tags)
            if not members and not tags:
                continue
            now = time.time()
            try:
                pipe = self._client.pipeline(transaction=False)
                if members:
                    pipe.zadd(RUNNING_KEY, dict.fromkeys(members, now + lease_seconds()), xx=True)
                if tags:
                    pipe.zadd(KOMBU_UNACKED_INDEX, dict.fromkeys(tags, now), xx=True)
                pipe.execute()
            except redis.RedisError as exc:
                logger.warning("Cannot renew delivery leases (%s); retrying.", exc)


_keepers: dict[int, LeaseKeeper] = {}


def lease_keeper(client: redis.Redis) -> LeaseKeeper:
    """Return this process's keeper (one per process: prefork children each get their own)."""
    import os

    pid = os.getpid()
    if pid not in _keepers:
        _keepers[pid] = LeaseKeeper(client)
    return _keepers[pid]
