"""What the benchmark adds to the process harness (tests/harness): its error, short-lived
helpers run to the end, and the resident memory of a process tree.

The long-running processes (the private redis-server, workers, relays, gunicorn) are
started by tests/harness, as the system tests start them.
"""

import contextlib
import subprocess
from pathlib import Path

import psutil

from tests.harness.processes import ROOT, HarnessError, ManagedProcess


class BenchError(HarnessError):
    """Something the benchmark needs did not work (a helper failed, a count stalled)."""


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


def rss_bytes(process: ManagedProcess) -> int:
    """Sum the resident memory of the process and all its descendants."""
    try:
        root = psutil.Process(process.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total
