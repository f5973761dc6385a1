"""Counters of events that have no row of their own: duplicates skipped, unroutable messages.

They live in one Redis hash, so counting costs one HINCRBY and never a database write on
the hot path. The monitoring endpoints read them.
"""

import logging

import redis

from apps.core import redis_keys
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)


def duplicates(subscription: str) -> str:
    return f"duplicates:{subscription}"


def unroutable(topic: str) -> str:
    return f"unroutable:{topic}"


def count(name: str, n: int = 1) -> None:
    """Add `n` to a counter; a Redis error is logged, never raised (counting must not fail work)."""
    try:
        redis_client().hincrby(redis_keys.COUNTERS, name, n)
    except redis.RedisError as exc:
        logger.warning("Cannot count %s (%s).", name, exc)


def counters_read() -> dict[str, int]:
    raw = redis_client().hgetall(redis_keys.COUNTERS)
    return {key.decode(): int(value) for key, value in raw.items()}  # type: ignore[union-attr]
