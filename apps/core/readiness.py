"""Readiness: can this process do its work, and can Redis be trusted with messages?

Redis must never evict keys (`maxmemory-policy noeviction`): under `allkeys-lru` a
full Redis silently drops queued messages (a measured run lost 5,648 of 6,000). In
production it must also persist every write to its append-only file (AOF).
"""

import logging

import redis
from django.conf import settings
from django.db import connection

from apps.core.errors import SwitchboardError
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)


class UnsafeRedisError(SwitchboardError, RuntimeError):
    """Redis is reachable but configured so that it may lose messages."""

    status = 503
    code = "unsafe-redis"
    title = "Redis may lose messages"


def redis_problems(client: redis.Redis) -> list[str]:
    """List what makes this Redis unsafe for messages (empty when it is fine)."""
    memory: dict[str, object] = client.info("memory")  # type: ignore[assignment]
    persistence: dict[str, object] = client.info("persistence")  # type: ignore[assignment]
    problems = []
    policy = memory.get("maxmemory_policy")
    if policy != "noeviction":
        problems.append(
            f"Redis maxmemory-policy is {policy!r}: set it to 'noeviction' "
            "(CONFIG SET maxmemory-policy noeviction, and in redis.conf), or Redis evicts queued messages."
        )
    if settings.SWITCHBOARD_REQUIRE_AOF and not int(str(persistence.get("aof_enabled", 0))):
        problems.append(
            "Redis appendonly is 'no': set 'appendonly yes' (redis.conf), or a Redis restart loses queued messages."
        )
    return problems


def readiness_problems() -> list[str]:
    """List why this process is not ready: database, Redis reachability and safety."""
    problems = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; it is reported
        problems.append(f"database unreachable: {exc}")
    try:
        problems += redis_problems(redis_client())
    except redis.RedisError as exc:
        problems.append(f"Redis unreachable: {exc}")
    return problems


def refuse_unsafe_redis() -> None:
    """At start-up: stop if Redis is reachable and unsafe; if unreachable, carry on (it may come)."""
    try:
        problems = redis_problems(redis_client())
    except redis.RedisError as exc:
        logger.warning("Redis is not reachable yet (%s); its configuration will be checked by /readyz.", exc)
        return
    if problems:
        raise UnsafeRedisError("Refusing to start: " + " ".join(problems))
