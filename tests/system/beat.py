"""Celery beat for the system tests: monitoring ticks every second (sampling and alert rules)."""

from pathlib import Path

from tests.harness.processes import VENV_BIN, ManagedProcess
from tests.harness.stack import Stack

BEAT_READY = "beat: Starting"


def start_beat(stack: Stack, *, directory: Path) -> ManagedProcess:
    """Start `celery beat` with its schedule file in `directory`; wait until it runs.

    Set SWITCHBOARD_MONITORING_INTERVAL in `stack.env` before starting the worker that
    runs the ticks, and beat.
    """
    beat = stack.spawn(
        "beat", [str(VENV_BIN / "celery"), "-A", "project", "beat", "-l", "info", "-s", str(directory / "beat")]
    )
    beat.wait_for_log(BEAT_READY, timeout=60)
    return beat
