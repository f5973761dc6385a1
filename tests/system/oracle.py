"""The oracle of the system tests: what became of the published messages.

Three independent records are compared:

- the effects: the rows the handlers write in the delivery's transaction, unique by
  message id (InventoryReservation for `inventory-reserve` and `fault-reserve`,
  BillingCharge for `billing-charge`), so an effect can never happen twice;
- the run log of `fault-reserve` (tests/fault_app): one entry per handler run, kept in
  Redis outside the delivery's transaction, so runs that crashed or rolled back count too;
- Switchboard's ledger: Delivery and DeadLetter rows and the duplicate counters.

`lost` counts (published message, subscription) pairs with neither an effect nor a dead
letter. Each breakage test prints one `Tally.line()`.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import redis
from django.db.models import Max, Model

from apps.core import redis_keys
from apps.deadletters.models import DeadLetter
from apps.delivery import counters
from apps.delivery.models import OPEN_STATES, Delivery
from apps.demo.models import BillingCharge, InventoryReservation
from tests.fault_app import topology as faults_topology
from tests.fault_app.consumers import EXECUTIONS_KEY
from tests.harness.processes import HarnessError, ManagedProcess, wait_until
from tests.harness.redis_server import int_reply

DEMO_SUBSCRIPTIONS = ("inventory-reserve", "billing-charge")
EFFECTS: dict[str, type[Model]] = {
    "inventory-reserve": InventoryReservation,
    "billing-charge": BillingCharge,
    faults_topology.SUBSCRIPTION: InventoryReservation,
}


def effect_ids(subscription: str) -> list[str]:
    """The message ids the subscription's handler took effect for, sorted."""
    rows = EFFECTS[subscription]._default_manager.values_list("message_id", flat=True)
    return sorted(str(m) for m in rows)


def reserved_ids() -> list[str]:
    return effect_ids("inventory-reserve")


def charged_ids() -> list[str]:
    return effect_ids("billing-charge")


def handled_ids() -> set[str]:
    """The message ids `fault-reserve` took effect for."""
    return set(effect_ids(faults_topology.SUBSCRIPTION))


def handled_count() -> int:
    """Effects of `fault-reserve` (and `inventory-reserve`: both reserve)."""
    return InventoryReservation.objects.count()


def dead_letter_ids(subscription: str) -> set[str]:
    return {
        str(m) for m in DeadLetter.objects.filter(subscription__name=subscription).values_list("message_id", flat=True)
    }


def duplicates_skipped(client: redis.Redis, subscriptions: Iterable[str]) -> int:
    """Switchboard's own duplicate counters of the subscriptions (a SIGKILL may lose their last second)."""
    names = [counters.duplicates(name) for name in subscriptions]
    values: list[Any] = client.hmget(redis_keys.COUNTERS, names)  # type: ignore[assignment] # redis-py types sync replies as maybe-awaitable
    return sum(int(value or 0) for value in values)


@dataclass(frozen=True)
class Tally:
    published: int
    handled: int
    duplicates_skipped: int
    dead_lettered: int
    lost: int

    def line(self, **extra: object) -> str:
        return _line({**asdict(self), **extra})


@dataclass(frozen=True)
class RunTally(Tally):
    """A tally of `fault-reserve`, with its run log."""

    executions: int
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
        }
        return _line({**fields, **extra})


def _line(fields: dict[str, object]) -> str:
    return " ".join(f"{name}={value}" for name, value in fields.items())


def tally(published: Iterable[str], client: redis.Redis, *, subscriptions: Iterable[str] = DEMO_SUBSCRIPTIONS) -> Tally:
    """Count the fate of the published messages at each subscription from the effects and the ledger."""
    published = set(published)
    subscriptions = tuple(subscriptions)
    handled = dead_lettered = lost = 0
    for subscription in subscriptions:
        effects, dead = set(effect_ids(subscription)), dead_letter_ids(subscription)
        handled += len(effects)
        dead_lettered += len(dead)
        lost += len(published - effects - dead)
    return Tally(
        published=len(published),
        handled=handled,
        duplicates_skipped=duplicates_skipped(client, subscriptions),
        dead_lettered=dead_lettered,
        lost=lost,
    )


def run_tally(published: Iterable[str], client: redis.Redis) -> RunTally:
    """Tally `fault-reserve`, counting its handler runs too."""
    counted = tally(published, client, subscriptions=[faults_topology.SUBSCRIPTION])
    return RunTally(
        **asdict(counted),
        executions=len(executions(client)),
        max_attempts_used=Delivery.objects.aggregate(m=Max("attempts"))["m"] or 0,
    )


def report(published: Iterable[str], client: redis.Redis, **extra: object) -> RunTally:
    """Tally `fault-reserve`, print the one-line summary, and return the tally."""
    counted = run_tally(published, client)
    print(counted.line(**extra))
    return counted


def executions(client: redis.Redis) -> list[dict[str, Any]]:
    """Every handler run `fault-reserve` logged, oldest first."""
    raw: list[bytes] = client.lrange(EXECUTIONS_KEY, 0, -1)  # type: ignore[assignment] # redis-py types sync replies as maybe-awaitable
    return [orjson.loads(entry) for entry in raw]


def runs_per_message(client: redis.Redis) -> Counter[str]:
    return Counter(entry["id"] for entry in executions(client))


def scheduled(client: redis.Redis) -> int:
    """Count deliveries waiting in the delay schedule or claimed from it by a relay."""
    return int_reply(client.zcard(redis_keys.SCHEDULED)) + int_reply(client.zcard(redis_keys.SCHEDULED_CLAIMED))


def open_deliveries() -> int:
    return Delivery.objects.filter(state__in=OPEN_STATES).count()


def nothing_open() -> bool:
    return open_deliveries() == 0


def open_deliveries_described(limit: int = 10) -> str:
    """Describe the deliveries still open, for a failure message."""
    rows = Delivery.objects.filter(state__in=OPEN_STATES).order_by("pk")
    described = [
        f"delivery {d.pk} of message {d.message_id} to {d.subscription.name}: {d.state}, "
        f"{d.attempts} attempt(s), created {d.created_at:%H:%M:%S.%f}, "
        f"sent {'never' if d.sent_at is None else format(d.sent_at, '%H:%M:%S.%f')}"
        for d in rows.select_related("subscription")[:limit]
    ]
    return f"{rows.count()} deliveries still open: " + "; ".join(described)


def settle(until: Callable[[], bool] = nothing_open, *, timeout: float, interval: float = 0.25) -> bool:
    """Wait until `until()` holds (by default: no delivery open); return whether it did.

    The caller prints its tally, then asserts: a run that did not settle still shows its counts.
    """
    try:
        wait_until(until, timeout=timeout, interval=interval, what="the deliveries to settle")
    except HarnessError:
        return bool(until())
    return True


def stays(expected: object, read: Callable[[], object], *, seconds: float) -> bool:
    """Return whether `read()` keeps returning `expected` for `seconds` (polled twice a second)."""
    try:
        wait_until(lambda: read() != expected, timeout=seconds, interval=0.5, what="a change")
    except HarnessError:
        return read() == expected
    return False


_TASK_SUCCEEDED = re.compile(r"Task delivery\.deliver\[[^\]]+\] succeeded")
_TASK_OUTCOME = re.compile(r"Task delivery\.deliver\[[^\]]+\] succeeded in [0-9.e-]+s: '(\w+)'")


def tasks_succeeded(worker: ManagedProcess) -> int:
    """How many single-delivery tasks this worker logged as succeeded."""
    return len(_TASK_SUCCEEDED.findall(worker.log()))


def task_outcomes(workers: Iterable[ManagedProcess]) -> Counter[str]:
    """Count the outcomes of the delivery tasks the workers logged (delivered, duplicate, ...)."""
    return Counter(outcome for worker in workers for outcome in _TASK_OUTCOME.findall(worker.log()))
