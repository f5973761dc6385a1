"""Break things on purpose and count what came through: Redis restarts, publishing clients
in threads, and the outcome of a run (published, handled, duplicates, dead letters, lost).

The oracle is what the demo handlers recorded: one InventoryReservation and one
BillingCharge row per message, each unique by message id and written in the same
transaction as the delivery's `delivered` mark.
"""

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from apps.deadletters.models import DeadLetter
from apps.delivery.counters import COUNTERS_KEY
from apps.delivery.models import OPEN_STATES, Delivery
from apps.demo.models import BillingCharge, InventoryReservation
from tests.system.processes import ManagedProcess, RedisServer

ORDERS = "/api/v1/topics/orders.created/messages"
QUEUES = ("sb.inventory-reserve", "sb.billing-charge")
# A publish may wait on Redis (kombu retries a refused connection for a few seconds) and
# on SQLite's write lock; the client waits longer than both.
CLIENT_TIMEOUT = 60.0


def redis_kill(server: RedisServer) -> None:
    """SIGKILL redis-server: no shutdown, connections cut at once (AOF writes already handed to
    the kernel survive; `redis_crash` loses them as a host crash would)."""
    assert server.process is not None
    server.process.kill()


def redis_restart(server: RedisServer) -> None:
    """Start a new redis-server on the same port and directory, so it reloads its AOF."""
    assert server.process is None or not server.process.alive(), "stop or kill Redis before restarting it"
    server.start()


def redis_admin(server: RedisServer) -> Any:
    """A client for inspecting and breaking the private Redis (typed loosely: redis-py's
    stubs type every reply as maybe-awaitable)."""
    return server.client()


def queued(server: RedisServer) -> int:
    """Task messages waiting in the demo subscriptions' queues."""
    admin = redis_admin(server)
    return sum(int(admin.llen(queue)) for queue in QUEUES)


def quiet(server: RedisServer) -> bool:
    """Nothing queued, fetched or running: late copies (a relay's resend after a Redis
    restart) have been handled too, so task and duplicate counts can be compared."""
    admin = redis_admin(server)
    return queued(server) == 0 and int(admin.hlen("unacked")) == 0 and int(admin.zcard("sb:running")) == 0


def aof_incr_file(server: RedisServer) -> Path:
    """The append-only file Redis (7, multi-part AOF) is appending to now."""
    files = sorted((server.directory / "appendonlydir").glob("*.incr.aof"), key=lambda p: int(p.name.split(".")[-3]))
    assert files, f"no incremental AOF file under {server.directory}"
    return files[-1]


class AofWatch:
    """Sample the AOF's size every 50 ms, to know where it stood a given time ago."""

    def __init__(self, server: RedisServer) -> None:
        self._server = server
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aof-watch", daemon=True)

    def start(self) -> "AofWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._samples.append((time.monotonic(), aof_incr_file(self._server).stat().st_size))

    def size_before(self, seconds: float) -> int:
        cutoff = time.monotonic() - seconds
        return max((size for at, size in self._samples if at <= cutoff), default=0)


def redis_crash(server: RedisServer, watch: AofWatch, *, lost_seconds: float = 1.0) -> int:
    """SIGKILL Redis and cut its AOF back to where it stood `lost_seconds` ago; return bytes cut.

    With `appendfsync everysec` a host crash (power loss, kernel panic) loses the writes
    of the last second that were not yet fsynced; a SIGKILL alone loses nothing, as the
    kernel still holds them. Redis loads the cut file (`aof-load-truncated yes`).
    """
    watch.stop()
    keep = watch.size_before(lost_seconds)
    redis_kill(server)
    path = aof_incr_file(server)
    size = path.stat().st_size
    os.truncate(path, keep)
    return size - keep


def resent_after_restart(relay: ManagedProcess) -> list[int]:
    """How many open deliveries the relay sent again after each Redis restart it noticed."""
    return [int(n) for n in re.findall(r"Redis restarted \(run id \w+\): (\d+) open deliveries", relay.log())]


def api_client(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=CLIENT_TIMEOUT,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


def order(n: int, *, padding: int = 0) -> dict[str, Any]:
    """An order the demo handlers accept; no `email`, so the webhook subscription skips it."""
    payload: dict[str, Any] = {"order_id": f"O-{n}", "total": "1.00", "items": [f"sku-{n}"]}
    if padding:
        payload["note"] = "x" * padding
    return payload


@dataclass
class Publisher:
    """Publish orders over HTTP from a thread, one request each, and keep every answer.

    A request that gets no answer (connection refused or reset) is counted in `no_answer`
    and never in `accepted`: the message may or may not have been committed.
    """

    client: httpx.Client
    count: int | None = None
    padding: int = 0
    first: int = 0
    accepted: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    no_answer: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def attempts(self) -> int:
        return len(self.accepted) + len(self.refused) + len(self.no_answer)

    def start(self) -> "Publisher":
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 300.0) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"publisher still running after {timeout} s"

    def _run(self) -> None:
        n = self.first
        while not self.stop.is_set() and (self.count is None or n < self.first + self.count):
            try:
                response = self.client.post(ORDERS, json={"payload": order(n, padding=self.padding)})
            except httpx.TransportError as exc:
                self.no_answer.append(repr(exc))
            else:
                if response.status_code == 202:
                    self.accepted.append(str(response.json()["id"]))
                else:
                    self.refused.append((response.status_code, response.text[:300]))
            n += 1


@dataclass(frozen=True)
class Outcome:
    published: int
    handled: int
    duplicates_skipped: int
    dead_lettered: int
    lost: int

    def line(self, **extra: object) -> str:
        fields = {**self.__dict__, **extra}
        return " ".join(f"{name}={value}" for name, value in fields.items())


def reserved_ids() -> list[str]:
    return sorted(str(m) for m in InventoryReservation.objects.values_list("message_id", flat=True))


def charged_ids() -> list[str]:
    return sorted(str(m) for m in BillingCharge.objects.values_list("message_id", flat=True))


def duplicates_counted(server: RedisServer) -> int:
    """Sum Switchboard's own duplicate counters (a Redis hash; a SIGKILL may lose its last second)."""
    counters = redis_admin(server).hgetall(COUNTERS_KEY)
    return sum(int(v) for k, v in counters.items() if k.startswith(b"duplicates:"))


def outcome(accepted: Iterable[str], server: RedisServer) -> Outcome:
    """Count the run: `lost` is (accepted message, subscription) pairs without their effect."""
    accepted = set(accepted)
    reserved, charged = set(reserved_ids()), set(charged_ids())
    return Outcome(
        published=len(accepted),
        handled=len(reserved) + len(charged),
        duplicates_skipped=duplicates_counted(server),
        dead_lettered=DeadLetter.objects.count(),
        lost=len(accepted - reserved) + len(accepted - charged),
    )


def open_deliveries() -> int:
    return Delivery.objects.filter(state__in=OPEN_STATES).count()


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


def settle(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.25) -> bool:
    """Poll `predicate` until it holds; return whether it did (the caller prints, then asserts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def tasks_succeeded(worker: ManagedProcess) -> int:
    """How many delivery tasks this worker logged as succeeded."""
    return len([line for line in worker.log().splitlines() if "Task delivery.deliver[" in line and "succeeded" in line])
