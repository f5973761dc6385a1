"""The Redis connection Switchboard uses outside Celery (scheduler, readiness)."""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_client() -> redis.Redis:
    """Return a process-wide Redis client for settings.REDIS_URL."""
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=25,
    )
