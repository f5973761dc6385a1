"""Count what happened to the messages of a fault-injection test.

The tests publish to a topic of their own whose one subscription runs the `fault-reserve`
consumer (apps/demo/fault_consumers.py). Three independent records are compared:

- the effect: one InventoryReservation per handled message (message_id is unique, so an
  effect can never happen twice — a second insert would fail and roll back);
- the execution log: one entry per handler run, kept in Redis outside the delivery's
  transaction, so runs that crashed or rolled back count too;
- Switchboard's ledger: Delivery rows, DeadLetter rows and the duplicate counter.

`lost` is a published message with neither an effect nor a dead letter.
"""

import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import redis
from django.db.models import Max

from apps.deadletters.models import DeadLetter
from apps.delivery.models import OPEN_STATES, Delivery
from apps.demo.fault_consumers import EXECUTIONS_KEY
from apps.demo.models import InventoryReservation
from apps.topology.models import ConsumerKind, Subscription, Topic
from tests.system.processes import Stack

TOPIC = "faults.test"
SUBSCRIPTION = "fault-reserve"
QUEUE = f"sb.{SUBSCRIPTION}"
BATCH_URL = f"/api/v1/topics/{TOPIC}/messages/batch"
BATCH_LIMIT = 500


def fault_subscription_create(*, max_attempts: int = 5, batch_size: int = 1) -> Subscription:
    """Create the test topic and its one subscription, with retry waits short enough for tests."""
    topic = Topic.objects.create(name=TOPIC)
    return Subscription.objects.create(
        name=SUBSCRIPTION,
        topic=topic,
        consumer_kind=ConsumerKind.PYTHON,
        handler="fault-reserve",
        max_attempts=max_attempts,
        retry_initial_delay=0.2,
        retry_multiplier=1.0,
        retry_max_delay=0.2,
        retry_jitter=0.0,
        batch_size=batch_size,
    )


def orders(count: int, prefix: str, **fields: Any) -> list[dict[str, Any]]:
    """Build `count` batch items with distinct order ids and the given payload fields."""
    return [{"payload": {"order_id": f"{prefix}-{n}", **fields}} for n in range(count)]


def publish_batch(client: httpx.Client, items: list[dict[str, Any]]) -> list[str]:
    """Publish items through the batch endpoint, 500 a request; return the message ids in order."""
    ids: list[str] = []
    for start in range(0, len(items), BATCH_LIMIT):
        chunk = items[start : start + BATCH_LIMIT]
        response = client.post(BATCH_URL, json={"messages": chunk})
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["accepted"], body["failed"]) == (len(chunk), 0), body
        ids += [result["id"] for result in body["results"]]
    return ids


def executions(client: redis.Redis) -> list[dict[str, Any]]:
    """Return every handler run the fault consumer logged, oldest first."""
    return [orjson.loads(raw) for raw in client.lrange(EXECUTIONS_KEY, 0, -1)]  # type: ignore[union-attr]


def runs_per_message(client: redis.Redis) -> Counter[str]:
    return Counter(entry["id"] for entry in executions(client))


def api_client(stack: Stack, api_key: str, **env: str) -> httpx.Client:
    """Start gunicorn with `env` and return an authenticated client of its API."""
    web = stack.start_web(**env)
    return httpx.Client(base_url=web.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60)


def handled_count() -> int:
    return InventoryReservation.objects.count()


def handled_ids() -> set[str]:
    return {str(m) for m in InventoryReservation.objects.values_list("message_id", flat=True)}


def open_deliveries() -> int:
    return Delivery.objects.filter(state__in=OPEN_STATES).count()


def scheduled(client: redis.Redis) -> int:
    """Count deliveries waiting in the delay schedule or claimed from it by a relay."""
    return int(client.zcard("sb:scheduled")) + int(client.zcard("sb:scheduled:claimed"))  # type: ignore[arg-type]


def duplicates_skipped(client: redis.Redis) -> int:
    return int(client.hget("sb:counters", f"duplicates:{SUBSCRIPTION}") or 0)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tally:
    published: int
    handled: int
    executions: int
    duplicates_skipped: int
    dead_lettered: int
    lost: int
    max_attempts_used: int

    @property
    def re_executions(self) -> int:
        """Handler runs beyond one per finished message: crashed or rolled-back attempts."""
        return self.executions - self.handled - self.dead_lettered

    def line(self, **extra: object) -> str:
        fields = {
            "published": self.published,
            "handled": self.handled,
            "executions": self.executions,
            "duplicates_skipped": self.duplicates_skipped,
            "dead_lettered": self.dead_lettered,
            "lost": self.lost,
            "re_executions": self.re_executions,
            "max_attempts_used": self.max_attempts_used,
            **extra,
        }
        return " ".join(f"{name}={value}" for name, value in fields.items())


def tally(published: list[str], client: redis.Redis) -> Tally:
    """Count the fate of the published messages from the effects, the run log and the ledger."""
    handled = handled_ids()
    dead_letters = DeadLetter.objects.filter(subscription__name=SUBSCRIPTION)
    dead = {str(m) for m in dead_letters.values_list("message_id", flat=True)}
    return Tally(
        published=len(published),
        handled=len(handled),
        executions=len(executions(client)),
        duplicates_skipped=duplicates_skipped(client),
        dead_lettered=len(dead),
        lost=len(set(published) - handled - dead),
        max_attempts_used=Delivery.objects.aggregate(m=Max("attempts"))["m"] or 0,
    )


def report(published: list[str], client: redis.Redis, **extra: object) -> Tally:
    """Tally, print the one-line summary, and return the tally."""
    counted = tally(published, client)
    print(counted.line(**extra))
    return counted


def settle(*, timeout: float) -> bool:
    """Wait until no delivery is open (pending or retrying); return False if some still are."""
    deadline = time.monotonic() + timeout
    while open_deliveries():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def stays(expected: object, read: Any, *, seconds: float) -> bool:
    """Return whether `read()` keeps returning `expected` for `seconds` (polled twice a second)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if read() != expected:
            return False
        time.sleep(0.5)
    return read() == expected


_OUTCOME = re.compile(r"Task delivery\.deliver\[[^\]]+\] succeeded in [0-9.e-]+s: '(\w+)'")


def task_outcomes(logs: list[str]) -> Counter[str]:
    """Count the outcomes of finished delivery tasks that worker logs report (delivered, duplicate, ...)."""
    return Counter(outcome for log in logs for outcome in _OUTCOME.findall(log))
