"""The adapter to kombu's Redis transport: the one module that knows its private formats.

Switchboard relies on two things inside kombu's Redis transport (Celery's broker):

- The task message. Sending one task through `apply_async` cost ~0.5 ms of Python:
  Celery builds the message from its options, kombu wraps it, and the Redis transport
  creates a new client for each LPUSH. A delivery task is always the same: one of two
  task names, one argument (a delivery id or a list of them), no ETA, no result, no time
  limits (the worker's own apply), always to its subscription's queue. So the message is
  built here from a template, and every task for every queue goes out in one pipelined
  round trip. It is Celery's task protocol 2 in kombu's Redis envelope (JSON, base64
  body), field for field what `apply_async` writes apart from the random ids (the JSON
  is compact).
- The unacknowledged messages: kombu keeps each task message a worker holds in the hash
  `unacked` and its delivery tag in the sorted set `unacked_index`, scored by when it
  was handed out; a message whose score is older than the visibility timeout goes back
  to its queue. Bumping the score renews its visibility (`task_visibility_renew`).

`tests/delivery/test_broker.py` compares both with what kombu and Celery do, so an
upgrade that changes them fails there, not in production.
"""

import base64
import os
import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

import orjson
import redis
import sentry_sdk
from celery import current_app
from celery.utils.nodenames import anon_nodename
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

# kombu's Redis transport's own keys (its Channel's unacked_key, unacked_index_key and
# unacked_mutex_key, which Switchboard's settings leave at their defaults).
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"
UNACKED_MUTEX = "unacked_mutex"

# The empty options apply_async would put in the body: no callbacks, errbacks or chains.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def trace_headers() -> dict[str, Any]:
    """Return the Sentry trace headers of the current span, as Celery's own send path adds them.

    `sentry-trace` and `baggage` go both in the message's headers and in its inner
    `headers` (which Celery hands to the worker as task.request.headers): sentry-sdk's
    Celery integration does the same in apply_async, and continues the trace from them
    in the worker, so a delivery's transaction is a child of its publish. Empty while
    Sentry is off: the message is then exactly what apply_async writes.
    """
    if not sentry_sdk.get_client().is_active():
        return {}
    found = {"sentry-trace": sentry_sdk.get_traceparent(), "baggage": sentry_sdk.get_baggage()}
    propagated = {name: value for name, value in found.items() if value}
    return {**propagated, "headers": dict(propagated)} if propagated else {}


def task_message(*, task: str, args: tuple[Any, ...], queue: str, trace: dict[str, Any] | None = None) -> bytes:
    """Return the Redis queue entry of one task: `task(*args)`, sent to `queue`, with `trace_headers()`."""
    task_id = str(uuid.uuid4())
    body = orjson.dumps([list(args), {}, _EMBED])
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
        "origin": _origin(os.getpid()),
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    if trace:
        headers.update(trace)
    return orjson.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "reply_to": _reply_to(),
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def tasks_push(client: redis.Redis, messages: Iterable[tuple[str, bytes]]) -> None:
    """LPUSH (queue, message) pairs in one round trip; each queue keeps their order.

    Workers take from the other end (BRPOP), so a queue's messages run first to last.
    """
    per_queue: dict[str, list[bytes]] = {}
    for queue, message in messages:
        per_queue.setdefault(queue, []).append(message)
    if not per_queue:
        return
    pipe = client.pipeline(transaction=False)
    for queue, queued in per_queue.items():
        pipe.lpush(queue, *queued)
    pipe.execute()


def task_visibility_renew(pipe: "redis.client.Pipeline", broker_tags: list[str], *, now: float) -> None:
    """Queue, on `pipe`, the renewal of held task messages (by delivery tag) as if handed out `now`."""
    pipe.zadd(UNACKED_INDEX, dict.fromkeys(broker_tags, now), xx=True)


def unacked_per_queue(client: redis.Redis) -> dict[str, int]:
    """Count the task messages workers hold (handed out, not yet acknowledged), per queue.

    kombu keeps each as `[message, exchange, routing key]` JSON in the `unacked` hash:
    at most prefetch x processes of them, so reading them all stays small.
    """
    counts: dict[str, int] = {}
    for raw in client.hvals(UNACKED):  # type: ignore[union-attr]
        try:
            routing_key = orjson.loads(raw)[2]
        except (orjson.JSONDecodeError, IndexError, TypeError):
            continue
        counts[routing_key] = counts.get(routing_key, 0) + 1
    return counts


def broker_client(url: str, connect_timeout: float, timeout: float) -> redis.Redis:
    """Return a client of the broker that never retries: what is not sent stays in the outbox."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=25,
        retry=Retry(NoBackoff(), 0),
    )


@cache
def sender_client() -> redis.Redis:
    """Return the client for Celery's broker (CELERY_BROKER_URL) with its socket timeouts.

    One per process: redis-py's pool opens new sockets in a forked child by itself.
    """
    conf = current_app.conf
    options = conf.broker_transport_options or {}
    if options.get("global_keyprefix"):
        raise ImproperlyConfigured(
            "CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix'] is not supported: deliveries are written "
            "to the queue named sb.<subscription>; use a Redis database of its own instead."
        )
    return broker_client(
        str(conf.broker_url), float(options.get("socket_connect_timeout", 2)), float(options.get("socket_timeout", 10))
    )


@cache
def _origin(pid: int) -> str:
    """Name the sending process as Celery does (gen<pid>@<host>), once per process."""
    return anon_nodename()


def _reply_to() -> str:
    # Celery's per-thread reply queue name; with ignore_result nothing is ever sent to it.
    return str(current_app.thread_oid)
