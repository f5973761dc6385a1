"""The `make run` process set, run as honcho runs it, survives its embedded Redis being SIGKILLed.

A copy of the project (so `var/` — Redis's AOF, the credentials — is private to the test)
runs `honcho start -f Procfile` with the environment `make run` exports, after the steps
`make run` takes first (migrate, collectstatic, sync_topology, sync_alerts,
bootstrap_local). The processes use the test database, so the ledger is read here with
tests/system/oracle.py. While orders are published over HTTP, the redis-server listening
on the private port is SIGKILLed: scripts/start/redis starts it again from its AOF, no
other process exits, and every publish answered 202 is delivered to both demo
subscriptions. Then SIGINT to honcho (Ctrl-C) stops everything, Redis included.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from apps.delivery.models import Delivery, DeliveryState
from tests.harness.processes import ROOT, VENV_BIN, HarnessError, ManagedProcess, free_port, wait_until
from tests.system.api import CLIENT_TIMEOUT
from tests.system.conftest import _database_url
from tests.system.faults import Publisher
from tests.system.oracle import charged_ids, nothing_open, open_deliveries_described, reserved_ids

pytestmark = pytest.mark.sqlite_too

# What a copy of the project needs to run; var/ (data, credentials) starts empty.
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "var", "__pycache__", ".*_cache", "node_modules")
SETUP_COMMANDS = (
    ("migrate", "--noinput"),
    ("collectstatic", "--noinput", "--verbosity", "0"),
    ("sync_topology",),
    ("sync_alerts",),
    ("bootstrap_local",),
)
STARTUP_TIMEOUT = 60.0
RESTART_TIMEOUT = 10.0
DRAIN_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


def make_run_env(root: Path, *, port: int, redis_port: int, flower_port: int) -> dict[str, str]:
    """The environment `make run` gives honcho (Makefile, target `run`), on the test database."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL"}}
    env.update(
        DATABASE_URL=_database_url(),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        SWITCHBOARD_LOCAL_REDIS="1",
        PORT=str(port),
        REDIS_PORT=str(redis_port),
        FLOWER_PORT=str(flower_port),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(VENV_BIN.parent),
        PYTHONUNBUFFERED="1",
    )
    return env


def redis_server_on(port: int) -> psutil.Process | None:
    """The redis-server process listening on 127.0.0.1:`port`, if any."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "redis-server":
            continue
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp")):
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def stack_processes(honcho: psutil.Process, redis_pid: int) -> dict[int, str]:
    """Every process honcho started (pid: command line), but redis-server and the supervisor's sleeps."""
    found = {}
    for process in honcho.children(recursive=True):
        try:
            if process.pid != redis_pid and process.name() != "sleep":
                found[process.pid] = " ".join(process.cmdline())[:120]
        except psutil.NoSuchProcess:
            continue
    return found


def still_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.timeout(240)
def test_redis_sigkilled_under_make_run_is_restarted_and_nothing_else_stops(
    transactional_db: None, tmp_path: Path
) -> None:
    root = tmp_path / "switchboard"
    shutil.copytree(ROOT, root, ignore=COPY_IGNORE)
    port, redis_port, flower_port = free_port(), free_port(), free_port()
    env = make_run_env(root, port=port, redis_port=redis_port, flower_port=flower_port)
    for command in SETUP_COMMANDS:
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"manage.py {' '.join(command)}: {done.stderr}"
    credentials = json.loads((root / "var" / "credentials.json").read_text())
    api_key = credentials["api_key"]
    env["SWITCHBOARD_METRICS_TOKEN"] = credentials["metrics_token"]

    honcho = ManagedProcess(
        "honcho", [str(VENV_BIN / "honcho"), "start", "-f", "Procfile"], env, tmp_path / "honcho.log", cwd=root
    ).start()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {api_key}"}, timeout=CLIENT_TIMEOUT
    )
    publisher = Publisher(client)
    try:

        def web_ready() -> bool:
            honcho.check_alive()
            try:
                return client.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(web_ready, timeout=STARTUP_TIMEOUT, what="the web process to answer /healthz")
        first_redis = redis_server_on(redis_port)
        assert first_redis is not None, honcho.log_tail()

        publisher.start()
        # Orders flow end to end (worker consuming) before Redis is killed.
        wait_until(
            lambda: Delivery.objects.filter(state=DeliveryState.DELIVERED).count() >= 20,
            timeout=STARTUP_TIMEOUT,
            what="the first deliveries",
        )
        before = stack_processes(psutil.Process(honcho.pid), first_redis.pid)
        assert len(before) >= 5, before  # web, worker, relay, beat, flower (and their children)

        accepted_before_kill = len(publisher.accepted)
        killed_at = time.monotonic()
        first_redis.kill()
        wait_until(
            lambda: (server := redis_server_on(redis_port)) is not None and server.pid != first_redis.pid,
            timeout=RESTART_TIMEOUT,
            interval=0.05,
            what=f"a new redis-server on port {redis_port}",
        )
        back_after = time.monotonic() - killed_at
        second_redis = redis_server_on(redis_port)
        assert second_redis is not None
        time.sleep(5)  # keep publishing against the new Redis
        publisher.stop.set()
        publisher.join(CLIENT_TIMEOUT + 10)

        try:
            wait_until(nothing_open, timeout=DRAIN_TIMEOUT, what="every accepted publish to be delivered")
        except HarnessError as exc:
            raise HarnessError(f"{exc}\n{open_deliveries_described()}\n{honcho.log_tail()}") from None

        accepted = sorted(set(publisher.accepted))
        reserved, charged = reserved_ids(), charged_ids()
        lost = len(set(accepted) - set(reserved)) + len(set(accepted) - set(charged))
        print(
            f"published={publisher.attempts} accepted={len(accepted)} (before the kill: {accepted_before_kill}) "
            f"refused={len(publisher.refused)} no_answer={len(publisher.no_answer)} "
            f"handled={len(reserved) + len(charged)} lost={lost} redis_back_after={back_after:.2f}s"
        )
        assert len(accepted) > accepted_before_kill, "nothing was accepted after the kill"
        assert lost == 0
        assert reserved == accepted
        assert charged == accepted
        assert not publisher.refused, publisher.refused[:3]
        exited = {pid: cmd for pid, cmd in before.items() if not still_running(pid)}
        assert not exited, f"processes of the stack exited: {exited}\n{honcho.log_tail()}"
        assert honcho.alive()
        assert back_after < 5, back_after
        assert "redis-server exited (signal KILL); restarting" in honcho.log()

        # Ctrl-C: honcho stops every process, the supervised Redis too.
        os.kill(honcho.pid, signal.SIGINT)
        assert honcho.popen is not None
        honcho.popen.wait(timeout=STOP_TIMEOUT)
        wait_until(
            lambda: not any(still_running(pid) for pid in [*before, second_redis.pid]),
            timeout=10,
            what="every process of the stack to exit",
        )
        assert redis_server_on(redis_port) is None
        assert "Redis is now ready to exit" in honcho.log()
    finally:
        publisher.stop.set()
        client.close()
        honcho.stop()
        leftover = redis_server_on(redis_port)
        if leftover is not None:  # started by this test, under its own port
            leftover.kill()


def test_a_redis_server_that_cannot_start_ends_the_supervisor_after_five_tries(tmp_path: Path) -> None:
    """A binary that fails at once (here `false`) is tried five times with growing back-off, then the
    supervisor exits with its status, so honcho stops `make run` instead of looping for ever."""
    root = tmp_path / "switchboard"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    shutil.copytree(ROOT / "config", root / "config")
    env = dict(os.environ, SWITCHBOARD_LOCAL_REDIS="1", SWITCHBOARD_REDIS_SERVER=shutil.which("false") or "/bin/false")
    env["REDIS_PORT"] = str(free_port())
    started = time.monotonic()
    done = subprocess.run(
        [str(root / "scripts" / "start" / "redis")], env=env, capture_output=True, text=True, timeout=30
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert output.count("restarting in") == 4, output
    assert "5 times in a row right after starting; giving up" in output
    assert 7 <= time.monotonic() - started < 20  # 0.5 + 1 + 2 + 4 s of back-off
