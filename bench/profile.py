"""Profile Switchboard's workers during a drain with py-spy (`python -m bench.run --profile`).

py-spy is pinned in requirements-dev.txt (`make venv` installs it). Each worker process
is sampled for the whole drain; the collapsed stacks land in var/bench/run/profile/ and
the JSON keeps the functions with the largest inclusive and self shares of the samples.
"""

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import phases
from bench.processes import BenchError, run_to_end
from bench.systems import WorkerSetup
from tests.harness.processes import VENV_BIN, ManagedProcess

TOP = 30
_LINE = re.compile(r":\d+\)$")


def _frame(raw: str) -> str:
    return _LINE.sub(")", raw.strip())


def summarize(paths: list[Path]) -> dict[str, Any]:
    """Aggregate py-spy raw (collapsed) stacks by function: inclusive and self sample shares."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame(f) for f in stack.split(";")[1:]]  # the first entry names the process/thread
            if not frames:
                continue
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
    share = lambda c: round(100 * c / total, 2) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "top_inclusive_percent": [[f, share(c)] for f, c in inclusive.most_common(TOP)],
        "top_self_percent": [[f, share(c)] for f, c in own.most_common(TOP)],
    }


def profile_drain(h: phases.SystemRun, system: str, setup: WorkerSetup, *, count: int, out_dir: Path) -> dict[str, Any]:
    py_spy = VENV_BIN / "py-spy"
    if not py_spy.exists():
        raise BenchError("py-spy is not installed: run `make venv` (requirements-dev.txt pins it)")
    out_dir.mkdir(parents=True, exist_ok=True)
    h.log(f"  profiling a drain of {count:,} messages ({setup.name}) with py-spy")
    h.reset()
    workers = h.start_ready_workers(system, setup, tag=f"{system}-profile")
    spies: list[ManagedProcess] = []
    outputs: list[Path] = []
    try:
        for worker in workers:
            worker.pause()
        h.fill(system, count)
        for index, worker in enumerate(workers):
            output = out_dir / f"{system}-worker{index}.txt"
            outputs.append(output)
            args = [
                str(py_spy),
                "record",
                "--pid",
                str(worker.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(output),
                "--nonblocking",
                "--subprocesses",
            ]
            spies.append(h.stack.spawn(f"py-spy-{index}", args))
        time.sleep(2.0)  # let py-spy attach
        started = time.perf_counter()
        for worker in workers:
            worker.resume()
        finished = h.wait_handled(count, workers=workers)
    finally:
        for spy in spies:
            spy.signal_group(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                if spy.popen is not None:
                    spy.popen.wait(timeout=30)
            spy.stop()
        phases.stop_all(workers)
    summary = summarize([p for p in outputs if p.exists()])
    summary["drain_rate_while_profiled"] = count / (finished - started)
    summary["stacks"] = [str(p) for p in outputs]
    (out_dir / f"{system}-summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def per_delivery_costs(h: phases.SystemRun, system: str) -> dict[str, Any]:
    """Count the SQL queries and Redis commands of one publish and one delivery, in one process."""
    out = run_to_end(
        "diagnose", [sys.executable, "-m", "bench.diagnose", system], h.env, h.run_dir / "diagnose.log", timeout=300
    )
    return dict(json.loads(out.strip().splitlines()[-1]))
