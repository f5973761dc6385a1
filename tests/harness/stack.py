"""The Switchboard processes of one run: celery workers, the relay and gunicorn.

They share one private Redis, one database and one environment (`Stack.env`), and each
writes its own log file under `Stack.log_dir`. Every start method waits until its process
is ready, or fails with the tail of its log.
"""

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.harness.processes import VENV_BIN, HarnessError, ManagedProcess, free_port, wait_until
from tests.harness.redis_server import RedisServer

WORKER_READY = " ready."
RELAY_READY = "Relay running"


def django_env(*, settings: str, database_url: str, redis_url: str) -> dict[str, str]:
    """This process's environment, pointed at the given settings, database and Redis."""
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE=settings,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )


def celery_worker_command(
    *,
    node: str,
    app: str = "project",
    loglevel: str = "info",
    queues: Iterable[str] = (),
    include: Iterable[str] = (),
    pool: str | None = None,
    concurrency: int | None = None,
) -> list[str]:
    """`celery worker` as Switchboard runs it, without gossip and mingle (no start-up chatter)."""
    args = [
        str(VENV_BIN / "celery"), "-A", app, "worker",
        "-l", loglevel, "-n", f"{node}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if queues:
        args += ["-Q", ",".join(queues)]
    if include:
        args += ["--include", ",".join(include)]
    if pool is not None:
        args += ["-P", pool]
    if concurrency is not None:
        args += ["-c", str(concurrency)]
    return args


@dataclass
class WebServer:
    process: ManagedProcess
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """Whether /healthz answers 200; fail if gunicorn has exited."""
        self.process.check_alive()
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@dataclass
class Stack:
    redis: RedisServer
    log_dir: Path
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], **env: str) -> ManagedProcess:
        """Start `args` with the stack's environment plus `env`, logging to `<log_dir>/<name>.log`."""
        process = ManagedProcess(name, args, {**self.env, **env}, self.log_dir / f"{name}.log").start()
        self.processes.append(process)
        return process

    def of_kind(self, kind: str) -> list[ManagedProcess]:
        """The processes started as `kind` (worker, relay, web), first first."""
        return [p for p in self.processes if p.name.startswith(f"{kind}-")]

    def next_name(self, kind: str) -> str:
        """Name the next process of a kind: worker-0, worker-1, ..."""
        return f"{kind}-{len(self.of_kind(kind))}"

    def start_worker(
        self,
        *,
        concurrency: int | None = 2,
        queues: Iterable[str] = (),
        wait: bool = True,
        name: str | None = None,
        app: str = "project",
        loglevel: str = "info",
        include: Iterable[str] = (),
        pool: str | None = None,
        **env: str,
    ) -> ManagedProcess:
        """Start `celery worker`; with `wait`, until it logs that it is ready to consume."""
        name = name or self.next_name("worker")
        node = f"{name}-{os.getpid()}"
        args = celery_worker_command(
            node=node, app=app, loglevel=loglevel, queues=queues, include=include, pool=pool, concurrency=concurrency
        )
        worker = self.spawn(name, args, **env)
        if wait:
            worker.wait_for_log(WORKER_READY, timeout=60)
        return worker

    def start_relay(self, *, name: str | None = None, wait: bool = True, **env: str) -> ManagedProcess:
        """Start `manage.py relay`; with `wait`, until it runs."""
        relay = self.spawn(name or self.next_name("relay"), [sys.executable, "manage.py", "relay"], **env)
        if wait:
            relay.wait_for_log(RELAY_READY, timeout=60)
        return relay

    def start_web(
        self,
        *,
        app: str = "project.wsgi:application",
        options: Iterable[str] = ("--workers", "2", "--timeout", "60"),
        name: str | None = None,
        **env: str,
    ) -> WebServer:
        """Start gunicorn on a free port with `options`; wait until /healthz answers."""
        port = free_port()
        args = [str(VENV_BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", *options]
        web = WebServer(process=self.spawn(name or self.next_name("web"), args, **env), port=port)
        try:
            wait_until(web.healthy, timeout=60, what=f"gunicorn {app} /healthz")
        except HarnessError:
            web.process.stop()
            raise
        return web

    def stop_all(self) -> None:
        """End every process at once (teardown: the run has measured what it needed)."""
        for process in self.processes:
            process.kill()
