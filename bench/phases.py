"""The measurements: publish rate, drain rate, latency under load, worker memory, HTTP publish.

Each function takes a SystemRun (the private Redis, the run directory, the environment
of a system) and returns plain numbers; bench.run repeats them and keeps medians.
"""

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import http_load, workload
from bench.processes import BenchError, rss_bytes, run_to_end
from bench.systems import FILL_BATCH, SWITCHBOARD_SYSTEMS, WorkerSetup, start_workers
from tests.harness.processes import ManagedProcess, wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.stack import Stack, WebServer

READY_TIMEOUT = 120.0
HTTP_WARMUP = 50
PUBLISH_WARMUP = 50


@dataclass
class SystemRun:
    redis: RedisServer
    run_dir: Path
    env: dict[str, str]
    log: Callable[[str], None]
    counter_polls: int = field(default=0)
    # Switchboard: delete the messages and deliveries of earlier runs (see bench.sb_setup empty).
    empty_database: bool = False

    @property
    def stack(self) -> Stack:
        """Start the system's long-running processes through this, with its environment."""
        return Stack(redis=self.redis, log_dir=self.run_dir / "logs", env=self.env)

    def producer(self, system: str, mode: str, *, count: int, timeout: float, **options: float) -> float:
        """Run bench.producer in a fresh process; return the seconds its timed part took."""
        args = [sys.executable, "-m", "bench.producer", system, mode, "--count", str(count)]
        for name, value in options.items():
            args += [f"--{name}", str(value)]
        out = run_to_end(f"producer {system} {mode}", args, self.env, self.run_dir / "producer.log", timeout=timeout)
        return float(json.loads(out.strip().splitlines()[-1])["seconds"])

    def counter(self) -> int:
        self.counter_polls += 1
        return as_int(self.redis.client().get(workload.COUNTER_KEY))

    def wait_handled(self, target: int, *, workers: list[ManagedProcess], stall_seconds: float = 60.0) -> float:
        """Poll the handler counter until it reaches `target`; return when it did (perf_counter).

        Fail when the count stops moving for `stall_seconds` or a worker exits.
        """
        client = self.redis.client()
        last, last_change = -1, time.monotonic()
        while True:
            handled = as_int(client.get(workload.COUNTER_KEY))
            now = time.perf_counter()
            if handled >= target:
                return now
            if handled != last:
                last, last_change = handled, time.monotonic()
            elif time.monotonic() - last_change > stall_seconds:
                raise BenchError(f"stalled at {handled} of {target} handled messages")
            for worker in workers:
                worker.check_alive()
            time.sleep(0.002)

    def reset(self) -> None:
        """Empty Redis (and Switchboard's messages): nothing survives into the next run.

        Switchboard's deliveries left open by an earlier run (the publish runs have no
        workers) would otherwise be sent again by the relay, finding them gone from the
        flushed Redis, and handled by the next run's workers as extra work.
        """
        if self.empty_database:
            args = [sys.executable, "-m", "bench.sb_setup", "empty"]
            run_to_end("empty the database", args, self.env, self.run_dir / "setup.log", timeout=120)
        self.redis.client().flushall()

    def start_ready_workers(self, system: str, setup: WorkerSetup, *, tag: str) -> list[ManagedProcess]:
        client = self.redis.client()
        client.delete(workload.READY_KEY)
        workers, expected = start_workers(system, setup, stack=self.stack, tag=tag)

        def ready() -> bool:
            for worker in workers:
                worker.check_alive()
            return as_int(client.get(workload.READY_KEY)) >= expected

        try:
            wait_until(ready, timeout=READY_TIMEOUT, what=f"{system} workers ({setup.name}) to be ready")
        except BaseException:
            stop_all(workers)
            raise
        return workers

    def fill(self, system: str, count: int, *, single: bool = False) -> None:
        """Queue `count` messages the fastest way the system offers, or one publish call each (`single`)."""
        timeout = 120 + count / 50
        if system in SWITCHBOARD_SYSTEMS and not single:
            self.producer(system, "many", count=count, batch=FILL_BATCH, timeout=timeout)
        else:
            self.producer(system, "single", count=count, timeout=timeout)

    def commands(self) -> dict[str, int]:
        """Return Redis's command counts since the last reset of its statistics."""
        stats: dict[str, Any] = self.redis.client().info("commandstats")  # type: ignore[assignment]
        return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def as_int(raw: Any) -> int:
    """Read a Redis counter (bytes, or None when it does not exist yet)."""
    return int(raw or 0)


def stop_all(processes: list[ManagedProcess]) -> None:
    for process in processes:
        process.stop()


def publish_rate(h: SystemRun, system: str, mode: str, *, count: int, batch: int) -> float:
    """Publish `count` messages with no worker running; return messages a second."""
    h.reset()
    seconds = h.producer(system, mode, count=count, batch=batch, warmup=PUBLISH_WARMUP, timeout=120 + count / 20)
    return count / seconds


@dataclass
class DrainResult:
    rate: float
    commands_per_message: dict[str, dict[str, float]]


def drain_rate(
    h: SystemRun, system: str, setup: WorkerSetup, *, count: int, tag: str, single: bool = False
) -> DrainResult:
    """Queue `count` messages while the workers are paused, resume them, time until all are handled.

    The workers are fresh processes, started and ready before the queue fills, then
    paused (SIGSTOP), so neither start-up nor filling is timed: the clock runs from
    SIGCONT to the count reaching `count`. With `single`, Switchboard's backlog is
    published one publish() call at a time, as raw Celery's is.
    """
    h.reset()
    workers = h.start_ready_workers(system, setup, tag=tag)
    try:
        for worker in workers:
            worker.pause()
        h.redis.client().config_resetstat()
        h.fill(system, count, single=single)
        published = h.commands()
        h.redis.client().config_resetstat()
        started = time.perf_counter()
        for worker in workers:
            worker.resume()
        finished = h.wait_handled(count, workers=workers)
        consumed = h.commands()
    finally:
        stop_all(workers)
    consumed.pop("get", None)  # mostly the benchmark's own polling of the counter
    per_message = {
        "publish": {name: calls / count for name, calls in sorted(published.items())},
        "consume": {name: calls / count for name, calls in sorted(consumed.items())},
    }
    return DrainResult(rate=count / (finished - started), commands_per_message=per_message)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class SteadyResult:
    rss: list[dict[str, float]]
    # Load name ("peer", "own") -> one entry per repetition.
    latency_runs: dict[str, list[dict[str, float]]]


def steady(
    h: SystemRun,
    system: str,
    setup: WorkerSetup,
    *,
    checkpoints: tuple[int, ...],
    loads: dict[str, float],
    seconds: float,
    repetitions: int,
) -> SteadyResult:
    """On one set of fresh workers: memory after each checkpoint's messages, then latency at each load."""
    h.reset()
    workers = h.start_ready_workers(system, setup, tag=f"{system}-steady")
    client = h.redis.client()
    rss: list[dict[str, float]] = []
    latency_runs: dict[str, list[dict[str, float]]] = {name: [] for name in loads}
    try:
        handled = 0
        for checkpoint in checkpoints:
            h.log(f"  memory: handling {checkpoint:,} messages")
            h.fill(system, checkpoint - handled)
            h.wait_handled(checkpoint, workers=workers)
            client.delete(workload.LATENCY_KEY)
            handled = checkpoint
            time.sleep(1.0)  # let in-flight acknowledgements and ledger writes settle
            rss.append({"messages": checkpoint, "rss_bytes": sum(rss_bytes(w) for w in workers)})
        for rep in range(repetitions):
            for name, rate in loads.items():
                run = _latency_run(h, system, workers, rate=rate, seconds=seconds)
                latency_runs[name].append(run)
                h.log(
                    f"  latency ({name} load) rep {rep + 1}/{repetitions} at {rate:,.0f}/s"
                    f" (achieved {run['achieved_rate']:,.0f}/s): p50 {run['p50_ms']:.1f} ms,"
                    f" p99 {run['p99_ms']:.1f} ms"
                )
    finally:
        stop_all(workers)
    return SteadyResult(rss=rss, latency_runs=latency_runs)


def _latency_run(
    h: SystemRun, system: str, workers: list[ManagedProcess], *, rate: float, seconds: float
) -> dict[str, float]:
    """Publish at `rate` for `seconds`; return the latency percentiles once all are handled."""
    client = h.redis.client()
    count = max(100, round(rate * seconds))
    client.delete(workload.LATENCY_KEY)
    base = as_int(client.get(workload.COUNTER_KEY))
    took = h.producer(system, "paced", count=count, rate=rate, batch=FILL_BATCH, timeout=120 + 3 * seconds)
    h.wait_handled(base + count, workers=workers)
    latencies = [float(v) for v in client.lrange(workload.LATENCY_KEY, 0, -1)]  # type: ignore[union-attr]
    return {
        "offered_rate": rate,
        "achieved_rate": count / took,
        "messages": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def start_gunicorn(h: SystemRun, app: str, *, settings: str, tag: str) -> WebServer:
    """Start gunicorn with Switchboard's config/gunicorn.conf.py on a free port; wait for /healthz."""
    options = ["--config", "config/gunicorn.conf.py"]
    return h.stack.start_web(app=app, options=options, name=tag, DJANGO_SETTINGS_MODULE=settings)


def http_rate(h: SystemRun, target: http_load.Target, *, count: int) -> float:
    """POST `count` requests (after a warm-up); return accepted requests a second."""
    h.reset()
    http_load.load(target, count=HTTP_WARMUP)
    seconds, statuses = http_load.load(target, count=count)
    accepted = statuses.get(202, 0)
    if accepted != count:
        raise BenchError(f"{count - accepted} of {count} requests were not accepted: {statuses}")
    return count / seconds
