"""The systems under test and how their worker processes start.

Every worker setup uses two processes doing the work, except the one-process setups
that price Switchboard's scaling. Celery workers (raw and Switchboard) run with the
same flags: log level WARNING (no per-task log lines), without gossip and mingle (no
start-up chatter between workers); Dramatiq runs its CLI defaults.
"""

from dataclasses import dataclass

from apps.core import redis_keys
from bench import workload
from tests.harness.processes import VENV_BIN, ManagedProcess
from tests.harness.stack import Stack

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
SWITCHBOARD_QUEUES = {
    SB_PER_MESSAGE: redis_keys.subscription_queue("bench-per-message"),
    SB_BATCHED: redis_keys.subscription_queue("bench-batched"),
}
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


def _worker_app(system: str) -> tuple[str, list[str], list[str]]:
    """The Celery app of a system's workers, their queues and the modules they include."""
    if system == RAW_CELERY:
        return "bench.raw_celery", [workload.RAW_CELERY_QUEUE], []
    return "project", [SWITCHBOARD_QUEUES[system]], ["bench.switchboard_consumers"]


def start_workers(system: str, setup: WorkerSetup, *, stack: Stack, tag: str) -> tuple[list[ManagedProcess], int]:
    """Start the worker processes of `setup`; return them and how many ready marks to expect."""
    if system == RAW_DRAMATIQ:
        args = [str(VENV_BIN / "dramatiq"), "bench.raw_dramatiq", "-p", str(setup.processes)]
        return [stack.spawn(f"{tag}-dramatiq", args)], setup.processes
    app, queues, include = _worker_app(system)

    def start(name: str, *, concurrency: int | None) -> ManagedProcess:
        return stack.start_worker(
            name=name,
            app=app,
            queues=queues,
            include=include,
            loglevel="warning",
            pool=setup.pool,
            concurrency=concurrency,
            wait=False,
        )

    if setup.pool == "prefork":
        return [start(f"{tag}-prefork", concurrency=setup.processes)], 1
    return [start(f"{tag}-solo{index}", concurrency=None) for index in range(setup.processes)], setup.processes
