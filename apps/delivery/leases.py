"""Leases on running deliveries: no delivery runs twice at once, and a dead worker's
deliveries come back within seconds.

When a worker starts a delivery it takes a lease: an entry in the sorted set of running
deliveries (`redis_keys.RUNNING`), scored by when the lease ends, and a start counter per
delivery. A thread in the worker process renews the leases of what it runs (and the
broker's visibility of the task message), so a handler may run as long as its time
limit allows.

- Another copy of the same delivery (a redelivery, a second send) finds the lease held
  and is skipped: nothing runs twice at once.
- A worker killed mid-delivery stops renewing; once the lease has run out, the relay
  moves the delivery to the delay schedule, due at once, and it runs again — seconds
  after the crash, not when Redis's visibility timeout would have returned it.
- The start counter survives crashes, so a poison message that kills its worker every
  time is dead-lettered after the subscription's max attempts instead of looping.
"""

import enum
import logging
import threading
import time
from pathlib import Path

import redis
from django.conf import settings

from apps.core import redis_keys
from apps.core.redis import lua_script
from apps.delivery import broker, scheduler

logger = logging.getLogger(__name__)

# Start counters outlive any retry schedule, then disappear on their own.
STARTS_TTL_SECONDS = 7 * 24 * 3600

_TAKE = lua_script(Path(__file__).with_name("leases_take.lua"))
_RECLAIM = lua_script(Path(__file__).with_name("leases_reclaim.lua"))


def lease_seconds() -> float:
    return float(settings.SWITCHBOARD_LEASE_SECONDS)


def _member(queue: str, delivery_id: int) -> bytes:
    return scheduler.ScheduledDelivery(queue=queue, delivery_id=delivery_id).encode()


class CountStarts(enum.Enum):
    """Which starts `leases_take` counts."""

    ALL = "1"
    # All of them if none of the deliveries ever started (a first run), else none: a
    # redelivery after a crash counts each start as it begins (`lease_count_start`).
    IF_FRESH = "fresh"


def leases_take(client: redis.Redis, entries: list[tuple[str, int]], *, count_starts: CountStarts) -> list[int]:
    """Take the leases of several deliveries, (queue, delivery id) each, in one round trip.

    Return, per entry, -1 if it is running elsewhere, else its start number if its start
    was counted, else 0 (count each start with `lease_count_start` right before it).
    """
    if not entries:
        return []
    now = time.time()
    starts = client.eval(
        _TAKE,
        1 + len(entries),
        redis_keys.RUNNING,
        *[redis_keys.starts(delivery_id) for _, delivery_id in entries],
        str(now + lease_seconds()),
        str(now),
        str(STARTS_TTL_SECONDS),
        count_starts.value,
        *[_member(queue, delivery_id).decode() for queue, delivery_id in entries],
    )
    return [int(n) for n in starts]  # type: ignore[union-attr]


def lease_count_start(
    client: redis.Redis, *, delivery_id: int, finished: list[tuple[str, int, bool]] | None = None
) -> int:
    """Count a start of a delivery whose lease is held; return its start number.

    `finished` leases, (queue, delivery id, final), are released in the same round trip.
    """
    pipe = client.pipeline(transaction=False)
    _release(pipe, finished or [])
    key = redis_keys.starts(delivery_id)
    pipe.incr(key)
    pipe.expire(key, STARTS_TTL_SECONDS)
    return int(pipe.execute()[-2])


def leases_finish(client: redis.Redis, finished: list[tuple[str, int, bool]]) -> None:
    """Release leases, (queue, delivery id, final) each, in one round trip (see `lease_finish`)."""
    if finished:
        pipe = client.pipeline(transaction=False)
        _release(pipe, finished)
        pipe.execute()


def starts_uncount(client: redis.Redis, delivery_ids: list[int]) -> None:
    """Take back starts counted for attempts that never began (an error came first)."""
    if delivery_ids:
        pipe = client.pipeline(transaction=False)
        for delivery_id in delivery_ids:
            pipe.decr(redis_keys.starts(delivery_id))
        pipe.execute()


def _release(pipe: "redis.client.Pipeline", finished: list[tuple[str, int, bool]]) -> None:
    for queue, delivery_id, final in finished:
        pipe.zrem(redis_keys.RUNNING, _member(queue, delivery_id))
        if final:
            pipe.delete(redis_keys.starts(delivery_id))


def leases_reclaim(client: redis.Redis, *, limit: int = 500) -> int:
    """Send deliveries whose worker stopped renewing their lease back to the schedule, due now."""
    return int(client.eval(_RECLAIM, 2, redis_keys.RUNNING, redis_keys.SCHEDULED, str(time.time()), str(limit)))  # type: ignore[arg-type]


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
                    pipe.zadd(redis_keys.RUNNING, dict.fromkeys(members, now + lease_seconds()), xx=True)
                if tags:
                    broker.task_visibility_renew(pipe, tags, now=now)
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
