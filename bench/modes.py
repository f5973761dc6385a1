"""What a run measures (quick and full modes) and what it records about the run itself."""

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bench import workload
from bench.databases import Databases
from tests.harness.processes import ROOT
from tests.harness.redis_server import RedisServer


@dataclass(frozen=True)
class Mode:
    name: str
    repetitions: int
    publish_count: int
    drain_count: int
    http_count: int
    latency_seconds: float
    rss_checkpoints: tuple[int, ...]
    publish_batch: int = 100


MODES = {
    # Small counts so a 2-core machine finishes in a few minutes; memory after 500 and 5,000 messages.
    "quick": Mode(
        "quick",
        3,
        publish_count=500,
        drain_count=1_000,
        http_count=300,
        latency_seconds=2,
        rss_checkpoints=(500, 5_000),
    ),
    "full": Mode(
        "full",
        5,
        publish_count=5_000,
        drain_count=10_000,
        http_count=3_000,
        latency_seconds=10,
        rss_checkpoints=(10_000, 100_000),
    ),
}


def run_context(mode: Mode, redis: RedisServer, databases: Databases, started: float) -> dict[str, Any]:
    config = {k: v for k, v in vars(mode).items()}
    config["rss_checkpoints"] = list(mode.rss_checkpoints)
    notes = [
        "Drain: workers are started and ready, paused (SIGSTOP), the queue is filled, then the clock runs"
        " from SIGCONT until the handler counter reaches N.",
        "Latency: publish to handler start, on the workers of the memory phase. Raw Celery and Switchboard"
        " per-message are offered the same rate, half the slower one's median drain rate (raw Celery is"
        " measured again, on fresh workers, after Switchboard); Switchboard batched at half raw Dramatiq's.",
        "Redis commands per message (redis_commands_per_message*): every command the publisher and the"
        " workers sent during the fill and the drain (INFO commandstats deltas), divided by N, less the"
        " handler's own two and the benchmark's INFO/CONFIG/GET; per-message counts the backlog published"
        " one publish() at a time, as raw Celery's is one apply_async each.",
        "Worker RSS sums each worker process tree (psutil); Switchboard's prefork children are recycled"
        " every CELERY_WORKER_MAX_TASKS_PER_CHILD tasks (10,000 by default).",
        "The Switchboard consumer is transactional (the default): handler and ledger write in one transaction.",
        "Celery workers log at WARNING (no per-task lines); Switchboard's workers keep its configuration"
        " (task events off unless CELERY_WORKER_SEND_TASK_EVENTS; Flower turns them on while it runs).",
    ]
    if mode.name == "quick":
        notes.append(
            f"Quick mode: memory after {mode.rss_checkpoints[0]:,} and {mode.rss_checkpoints[-1]:,} messages"
            " (full mode: 10k and 100k); rss_100k_vs_10k compares these two points."
        )
    return {
        "mode": mode.name,
        "config": config,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "redis": redis.version() if redis.process and redis.process.alive() else None,
            "database": databases.description,
            "payload_bytes": len(orjson.dumps(workload.PAYLOAD)),
        },
        "code": _code_version(),
        "notes": notes,
    }


def _code_version() -> dict[str, Any]:
    """Name the commit measured and the files changed on top of it (others edit while this runs)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    changed = git("status", "--porcelain", "--", "apps", "project", "config").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": [line[3:] for line in changed]}
