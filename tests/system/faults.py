"""Break things on purpose: Redis killed, restarted, crashed with the last second of its
AOF lost; and publishers that keep publishing over HTTP from threads meanwhile.

What came through is counted by tests/system/oracle.py.
"""

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from apps.core import redis_keys
from apps.delivery import broker
from tests.harness.processes import ManagedProcess
from tests.harness.redis_server import RedisServer, int_reply
from tests.system.api import ORDERS, order

DEMO_QUEUES = tuple(redis_keys.subscription_queue(name) for name in ("inventory-reserve", "billing-charge"))


def redis_kill(server: RedisServer) -> None:
    """SIGKILL redis-server: no shutdown, connections cut at once (AOF writes already handed to
    the kernel survive; `redis_crash` loses them as a host crash would)."""
    assert server.process is not None
    server.process.kill()


def redis_restart(server: RedisServer) -> None:
    """Start a new redis-server on the same port and directory, so it reloads its AOF."""
    assert server.process is None or not server.process.alive(), "stop or kill Redis before restarting it"
    server.start()


def queued(server: RedisServer) -> int:
    """Task messages waiting in the demo subscriptions' queues."""
    client = server.client()
    return sum(int_reply(client.llen(queue)) for queue in DEMO_QUEUES)


def quiet(server: RedisServer) -> bool:
    """Nothing queued, fetched or running: late copies (a relay's resend after a Redis
    restart) have been handled too, so task and duplicate counts can be compared."""
    client = server.client()
    return (
        queued(server) == 0
        and int_reply(client.hlen(broker.UNACKED)) == 0
        and int_reply(client.zcard(redis_keys.RUNNING)) == 0
    )


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
