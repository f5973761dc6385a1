"""Rate limits, kept in Redis so they hold across gunicorn workers and hosts (a token bucket, ratelimit.lua).

Each API key has a bucket for publishing and one for every other call
(SWITCHBOARD_RATE_LIMIT_PUBLISH, SWITCHBOARD_RATE_LIMIT_API); each client address has
one for failed authentication (SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES): once it is empty,
that address gets 429 before its key is even checked, so keys cannot be guessed fast.
A rate is `<count>/<s|m|h>`: that many at once, refilled evenly over the period; `off`
turns a limit off. When Redis cannot be reached the limits let requests through:
publishing must go on while Redis is down (publishes wait in the outbox).
"""

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.accounts.models import ApiKey
from apps.accounts.scopes import Scope, view_required_scope
from apps.core import redis_keys
from apps.core.errors import SwitchboardError
from apps.core.redis import lua_script, redis_client

logger = logging.getLogger(__name__)
_TAKE = lua_script(Path(__file__).with_name("ratelimit.lua"))
RATE_RE = re.compile(r"(\d+)/([smh])")
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600}


class RateLimitedError(SwitchboardError):
    """Too many requests; `retry_after` says in how many seconds one will pass."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def problem_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class Rate:
    burst: int
    per_second: float

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """Read `1000/s`, `600/m`, `20/h`; None for `off`."""
        if text.strip().lower() == "off":
            return None
        match = RATE_RE.fullmatch(text.strip())
        if match is None or int(match.group(1)) == 0:
            raise ValueError(f"{text!r} is not a rate; write <count>/<s|m|h> (e.g. 1000/s) or off.")
        count = int(match.group(1))
        return cls(burst=count, per_second=count / PERIOD_SECONDS[match.group(2)])


def take(kind: str, who: str, rate: Rate | None, *, cost: int = 1) -> int:
    """Take `cost` tokens of bucket (kind, who); return 0, or the seconds to wait when it is empty."""
    if rate is None:
        return 0
    try:
        allowed, wait_ms = redis_client().eval(  # type: ignore[misc]
            _TAKE, 1, redis_keys.rate_limit(kind, who), str(rate.per_second), str(rate.burst), str(cost)
        )
    except redis.RedisError:
        logger.warning("Rate limit %s not applied: Redis is unreachable.", kind)
        return 0
    return 0 if allowed else max(1, math.ceil(int(wait_ms) / 1000))


def _rate(setting: str) -> Rate | None:
    return Rate.parse(getattr(settings, setting))


def auth_failures_check(ip: str) -> None:
    """Raise RateLimitedError while address `ip` has used up its failed authentications."""
    wait = take("auth", ip, _rate("SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES"), cost=0)
    if wait:
        raise RateLimitedError("Too many failed authentications from this address.", retry_after=wait)


def auth_failure_count(ip: str) -> None:
    """Count one failed authentication of address `ip`."""
    take("auth", ip, _rate("SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES"))


class ApiKeyRateThrottle(BaseThrottle):
    """DRF throttle: each API key's publish calls and other calls, each against its own limit."""

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        publishing = view_required_scope(view, request.method or "GET") == Scope.PUBLISH
        kind = "publish" if publishing else "api"
        setting = "SWITCHBOARD_RATE_LIMIT_PUBLISH" if publishing else "SWITCHBOARD_RATE_LIMIT_API"
        wait = take(kind, str(api_key.pk), _rate(setting))
        if wait:
            raise RateLimitedError(
                f"This API key's {kind} rate limit ({getattr(settings, setting)}) is used up.", retry_after=wait
            )
        return True
