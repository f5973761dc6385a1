"""The systems under test and how their worker processes start.

Every worker setup uses two processes doing the work, except the one-process setups
that price Switchboard's scaling. Celery workers (raw and Switchboard) run with the
same flags: log level WARNING (no per-task log lines), without gossip and mingle (no
start-up chatter between workers); Dramatiq runs its CLI defaults.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from bench import workload
from bench.stack import VENV_BIN, Process

RAW_CELERY = "raw_celery"
RAW_DRAMATIQ = "raw_dramatiq"
SB_PER_MESSAGE = "sb_per_message"
SB_BATCHED = "sb_batched"
NOOP_DRF = "noop_drf"

SWITCHBOARD_SYSTEMS = (SB_PER_MESSAGE, SB_BATCHED)
QUEUE_SYSTEMS = (RAW_CELERY, RAW_DRAMATIQ, *SWITCHBOARD_SYSTEMS)
ALL_SYSTEMS = (*QUEUE_SYSTEMS, NOOP_DRF)

LABELS = {
    RAW_CELERY: "raw Celery",
    RAW_DRAMATIQ: "raw Dramatiq",
    SB_PER_MESSAGE: "Switchboard per-message",
    SB_BATCHED: "Switchboard batched (50)",
    NOOP_DRF: "no-op DRF POST",
}
# Whose drain rate sets a system's offered load in the latency phase (half of it).
LATENCY_PEER = {
    RAW_CELERY: RAW_CELERY,
    SB_PER_MESSAGE: RAW_CELERY,
    RAW_DRAMATIQ: RAW_DRAMATIQ,
    SB_BATCHED: RAW_DRAMATIQ,
}
SWITCHBOARD_QUEUES = {SB_PER_MESSAGE: "sb.bench-per-message", SB_BATCHED: "sb.bench-batched"}
# Switchboard is filled through publish_many in batches this large when a queue must fill fast.
FILL_BATCH = 500


@dataclass(frozen=True)
class WorkerSetup:
    """How the work is spread: `pool` is prefork, solo or dramatiq; `processes` do the work."""

    pool: str
    processes: int

    @property
    def name(self) -> str:
        if self.pool == "prefork":
            return f"prefork x{self.processes}"
        if self.pool == "solo":
            return f"{self.processes} solo"
        return f"{self.processes} proc x 8 threads"

    @property
    def key(self) -> str:
        return f"{self.pool}-{self.processes}"


PREFORK_2 = WorkerSetup("prefork", 2)
SOLO_2 = WorkerSetup("solo", 2)
DRAMATIQ_2 = WorkerSetup("dramatiq", 2)


def drain_setups(system: str) -> list[WorkerSetup]:
    """Name the two-process setups tried for a system's drain; the faster one counts."""
    return [DRAMATIQ_2] if system == RAW_DRAMATIQ else [PREFORK_2, SOLO_2]


def one_process(setup: WorkerSetup) -> WorkerSetup:
    return WorkerSetup(setup.pool, 1)


def _celery_args(system: str, *, name: str) -> list[str]:
    common = ["-l", "warning", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]
    if system == RAW_CELERY:
        return [str(VENV_BIN / "celery"), "-A", "bench.raw_celery", "worker", "-Q", workload.RAW_CELERY_QUEUE, *common]
    return [
        str(VENV_BIN / "celery"), "-A", "project", "worker",
        "-Q", SWITCHBOARD_QUEUES[system], "--include", "bench.switchboard_consumers", *common,
    ]  # fmt: skip


def start_workers(
    system: str, setup: WorkerSetup, *, env: dict[str, str], log_dir: Path, tag: str
) -> tuple[list[Process], int]:
    """Start the worker processes of `setup`; return them and how many ready marks to expect."""
    if system == RAW_DRAMATIQ:
        args = [str(VENV_BIN / "dramatiq"), "bench.raw_dramatiq", "-p", str(setup.processes)]
        process = Process(f"{tag}-dramatiq", args, env, log_dir / f"{tag}-dramatiq.log").start()
        return [process], setup.processes
    if setup.pool == "prefork":
        name = f"{tag}-prefork-{os.getpid()}"
        args = [*_celery_args(system, name=name), "-P", "prefork", "-c", str(setup.processes)]
        return [Process(name, args, env, log_dir / f"{name}.log").start()], 1
    processes = []
    for index in range(setup.processes):
        name = f"{tag}-solo{index}-{os.getpid()}"
        args = [*_celery_args(system, name=name), "-P", "solo"]
        processes.append(Process(name, args, env, log_dir / f"{name}.log").start())
    return processes, setup.processes
