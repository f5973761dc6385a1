"""The consumer of the fault drills: it logs every run, and crashes on request.

`fault-reserve` records an InventoryReservation (message_id is unique, so its effect can
happen at most once) inside the delivery's transaction, like `inventory-reserve`. Before
that it appends one entry per run to the Redis list `fault:executions` — outside the
database transaction, so runs that crash or roll back are counted too:

    {"id": "<message id>", "pid": <process id>, "attempt": <n>, "at": <Unix seconds>}

The payload steers it:

- `"work_seconds": S` (at most 60) sleeps S seconds after logging the run;
- `"simulate": "crash"` SIGKILLs the process running it (a poison message that takes its
  worker down on every attempt);
- `"simulate": "outlive_time_limits"` keeps sleeping the work_seconds through Celery's
  soft time limit (a handler that swallows SoftTimeLimitExceeded), so only the hard time
  limit stops it.
"""

import os
import signal
import time

import orjson
from celery.exceptions import SoftTimeLimitExceeded

from apps.core.consumers import ReceivedMessage, consumer
from apps.core.redis import redis_client
from apps.demo.models import InventoryReservation
from tests.fault_app.topology import SUBSCRIPTION

EXECUTIONS_KEY = "fault:executions"
MAX_WORK_SECONDS = 60


@consumer(SUBSCRIPTION)
def fault_reserve(message: ReceivedMessage) -> None:
    """Log this run, then crash, sleep or reserve as the payload says."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    entry = {"id": message.id, "pid": os.getpid(), "attempt": message.attempt, "at": time.time()}
    redis_client().rpush(EXECUTIONS_KEY, orjson.dumps(entry))
    if payload.get("simulate") == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    work_seconds = payload.get("work_seconds")
    if isinstance(work_seconds, int | float) and 0 < work_seconds <= MAX_WORK_SECONDS:
        _sleep(work_seconds, through_soft_limit=payload.get("simulate") == "outlive_time_limits")
    InventoryReservation.objects.create(message_id=message.id, order_id=str(payload.get("order_id", "")))


def _sleep(seconds: float, *, through_soft_limit: bool) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            time.sleep(left)
        except SoftTimeLimitExceeded:
            if not through_soft_limit:
                raise
