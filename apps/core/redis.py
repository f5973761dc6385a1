"""The Redis connection Switchboard uses outside Celery (scheduler, readiness), and its Lua scripts."""

from functools import cache
from pathlib import Path

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


def lua_script(path: Path) -> str:
    """Read a Lua script once, without its comment header (every EVAL sends the script's text).

    Each script is a `.lua` file beside the module that runs it; its header documents
    every KEY and ARGV it touches.
    """
    lines = path.read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.lstrip().startswith("--"))
