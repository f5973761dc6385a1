"""Switchboard's own delay scheduler: a Redis sorted set of (queue, delivery) due times.

Celery's `countdown`/`eta` on Redis keep the task unacknowledged in a worker until it is
due, so any delay longer than the visibility timeout makes Redis hand the task out again
(and again). Switchboard instead parks waiting deliveries here; the relay claims the due
ones and sends them to their queues.

Claiming is atomic (a Lua script), so two relays never claim the same entry. A claim is
a lease: the entry moves to a second sorted set scored by the lease's end and leaves it
once sent. If the relay dies between claim and send, the lease runs out and the entry
is claimed again — at least once, never lost; consumers deduplicate the rare repeat.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis

from apps.core import redis_keys
from apps.core.redis import lua_script

CLAIM_LEASE_SECONDS = 30.0

_CLAIM_DUE = lua_script(Path(__file__).with_name("scheduler_claim_due.lua"))


@dataclass(frozen=True)
class ScheduledDelivery:
    queue: str
    delivery_id: int

    def encode(self) -> bytes:
        return orjson.dumps([self.queue, self.delivery_id])

    @classmethod
    def decode(cls, raw: bytes) -> "ScheduledDelivery":
        queue, delivery_id = orjson.loads(raw)
        return cls(queue=queue, delivery_id=delivery_id)


def schedule(client: redis.Redis, entries: list[tuple[ScheduledDelivery, float]]) -> None:
    """Park each delivery until its due time (Unix seconds)."""
    if entries:
        client.zadd(redis_keys.SCHEDULED, {entry.encode(): due_at for entry, due_at in entries})


def claim_due(client: redis.Redis, *, limit: int = 500, now: float | None = None) -> list[ScheduledDelivery]:
    """Claim up to `limit` due entries under a lease; call `release` once they are sent."""
    now = time.time() if now is None else now
    raw: list[bytes] = client.eval(  # type: ignore[assignment]
        _CLAIM_DUE,
        2,
        redis_keys.SCHEDULED,
        redis_keys.SCHEDULED_CLAIMED,
        str(now),
        str(now + CLAIM_LEASE_SECONDS),
        str(limit),
    )
    return [ScheduledDelivery.decode(member) for member in raw]


def release(client: redis.Redis, entries: list[ScheduledDelivery]) -> None:
    """Drop the leases of entries that were sent to their queues."""
    if entries:
        client.zrem(redis_keys.SCHEDULED_CLAIMED, *[entry.encode() for entry in entries])


def scheduled_count(client: redis.Redis) -> int:
    return int(client.zcard(redis_keys.SCHEDULED)) + int(client.zcard(redis_keys.SCHEDULED_CLAIMED))  # type: ignore[arg-type]
