"""Turn the measurements into the ratios, the printed table and var/bench/latest.json.

python -m bench.report var/bench/latest.json   print a run's table again (figures recomputed)
"""

import json
import sys
from pathlib import Path
from typing import Any

from bench.systems import LABELS, NOOP_DRF, RAW_CELERY, RAW_DRAMATIQ, SB_BATCHED, SB_PER_MESSAGE

# Figure name -> (comparison, target), as issue 14 states them. ">=" figures are better
# higher, "<=" better lower. The figures are ratios, except p99_latency_ms (Switchboard's
# absolute p99) and the Redis command counts; redis_commands_per_message's target is raw
# Celery's own count in the same run (CELERY_COUNT), filled in by targets().
CELERY_COUNT = -1.0
TARGETS: dict[str, tuple[str, float]] = {
    "drain_per_message_vs_celery": (">=", 1.0),
    "drain_per_message_single_vs_celery": (">=", 0.7),
    "drain_batched_vs_dramatiq": (">=", 1.5),
    "publish_vs_apply_async": (">=", 1.0),
    "publish_many_vs_apply_async": (">=", 10.0),
    "http_publish_vs_noop_drf": (">=", 0.6),
    "p99_latency_vs_celery": ("<=", 1.5),
    "p99_latency_ms": ("<=", 50.0),
    "drain_2proc_vs_1proc": (">=", 1.7),
    "rss_100k_vs_10k": ("<=", 1.1),
    # Drain with metrics counting on against off (issue 10: at most 5% of drain throughput).
    "drain_metrics_on_vs_off": (">=", 0.95),
    "rss_vs_celery": ("<=", 1.3),
    "redis_commands_per_message": ("<=", CELERY_COUNT),
    "redis_commands_per_message_batched": ("<=", 0.5),
    # Drain with the attempt log of Python consumers on against off (issue 12: within 5%).
    "drain_attempt_log_on_vs_off": (">=", 0.95),
}
# On PostgreSQL (`make bench-pg`) these targets replace the ones above.
POSTGRES_TARGETS: dict[str, tuple[str, float]] = {
    "publish_vs_apply_async": (">=", 0.5),
    "publish_many_vs_apply_async": (">=", 5.0),
    "drain_per_message_vs_celery": (">=", 0.8),
    "drain_batched_vs_dramatiq": (">=", 1.0),
}
# The handler's own two calls (bench.workload.handle), the same for every system, and the
# benchmark's own commands: not what the system under test costs.
HANDLER_COMMANDS = 2
BENCH_COMMANDS = ("info", "config|resetstat", "config", "get")


def _get(results: dict[str, Any], system: str, *path: str | int) -> float | None:
    node: Any = results["systems"].get(system)
    for part in path:
        if node is None:
            return None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return float(node) if isinstance(node, int | float) else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def commands_per_message(results: dict[str, Any], system: str, *drain_path: str) -> float | None:
    """Redis commands per delivered message (publish and consume side), less the handler's own two."""
    node: Any = results["systems"].get(system) or {}
    for part in ("drain", *drain_path):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    key = node.get("best") if not drain_path else None
    entry = node["setups"].get(key, {}) if key else node
    counts = entry.get("redis_commands_per_message")
    if not counts:
        return None
    total = sum(calls for side in counts.values() for name, calls in side.items() if name not in BENCH_COMMANDS)
    return float(total - HANDLER_COMMANDS)


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    return {
        "drain_per_message_vs_celery": _ratio(
            _get(results, SB_PER_MESSAGE, "drain", "median"), _get(results, RAW_CELERY, "drain", "median")
        ),
        "drain_per_message_single_vs_celery": _ratio(
            _get(results, SB_PER_MESSAGE, "drain", "single_publish", "median"),
            _get(results, RAW_CELERY, "drain", "median"),
        ),
        "drain_batched_vs_dramatiq": _ratio(
            _get(results, SB_BATCHED, "drain", "median"), _get(results, RAW_DRAMATIQ, "drain", "median")
        ),
        "publish_vs_apply_async": _ratio(
            _get(results, SB_PER_MESSAGE, "publish", "single", "median"),
            _get(results, RAW_CELERY, "publish", "single", "median"),
        ),
        "publish_many_vs_apply_async": _ratio(
            _get(results, SB_BATCHED, "publish", "many", "median"),
            _get(results, RAW_CELERY, "publish", "single", "median"),
        ),
        "http_publish_vs_noop_drf": _ratio(
            _get(results, SB_PER_MESSAGE, "http", "median"), _get(results, NOOP_DRF, "http", "median")
        ),
        "p99_latency_vs_celery": _ratio(
            _get(results, SB_PER_MESSAGE, "latency", "p99_ms"), _get(results, RAW_CELERY, "latency", "p99_ms")
        ),
        "p99_latency_ms": _get(results, SB_PER_MESSAGE, "latency", "p99_ms"),
        "drain_2proc_vs_1proc": _ratio(
            _get(results, SB_PER_MESSAGE, "drain", "median"),
            _get(results, SB_PER_MESSAGE, "drain", "one_process", "median"),
        ),
        "rss_100k_vs_10k": _ratio(
            _get(results, SB_PER_MESSAGE, "rss", -1, "rss_bytes"), _get(results, SB_PER_MESSAGE, "rss", 0, "rss_bytes")
        ),
        "drain_metrics_on_vs_off": _ratio(
            _get(results, SB_PER_MESSAGE, "drain", "metrics", "on", "median"),
            _get(results, SB_PER_MESSAGE, "drain", "metrics", "off", "median"),
        ),
        "rss_vs_celery": _ratio(
            _get(results, SB_PER_MESSAGE, "rss", 0, "rss_bytes"), _get(results, RAW_CELERY, "rss", 0, "rss_bytes")
        ),
        # Backlog published one publish() at a time, as raw Celery's is one apply_async each.
        "redis_commands_per_message": commands_per_message(results, SB_PER_MESSAGE, "single_publish"),
        "redis_commands_per_message_batched": commands_per_message(results, SB_BATCHED),
        "drain_attempt_log_on_vs_off": _ratio(
            _get(results, SB_PER_MESSAGE, "drain", "attempt_log", "on", "median"),
            _get(results, SB_PER_MESSAGE, "drain", "attempt_log", "off", "median"),
        ),
    }


def targets(results: dict[str, Any]) -> dict[str, tuple[str, float | None]]:
    """The targets of this run: PostgreSQL's where it ran on PostgreSQL, raw Celery's count filled in."""
    chosen: dict[str, tuple[str, float | None]] = dict(TARGETS)
    if str(results.get("machine", {}).get("database", "")).startswith("PostgreSQL"):
        chosen.update(POSTGRES_TARGETS)
    comparison, _ = chosen["redis_commands_per_message"]
    chosen["redis_commands_per_message"] = (comparison, commands_per_message(results, RAW_CELERY))
    return chosen


def verdicts(values: dict[str, float | None], goals: dict[str, tuple[str, float | None]]) -> dict[str, bool | None]:
    met: dict[str, bool | None] = {}
    for name, (comparison, target) in goals.items():
        value = values[name]
        if value is None or target is None:
            met[name] = None
        else:
            met[name] = value >= target if comparison == ">=" else value <= target
    return met


def _absolutes(results: dict[str, Any]) -> dict[str, str]:
    """What each figure compares, in absolute numbers: `489 vs 1,148 msg/s`."""

    def pair(a: float | None, b: float | None, unit: str, digits: int = 0) -> str:
        return "" if a is None and b is None else f"{_fmt(a, digits)} vs {_fmt(b, digits)} {unit}"

    def mb(system: str, index: int) -> float | None:
        value = _get(results, system, "rss", index, "rss_bytes")
        return None if value is None else value / 1e6

    drain = lambda system, *path: _get(results, system, "drain", *path, "median")  # noqa: E731
    celery_publish = _get(results, RAW_CELERY, "publish", "single", "median")
    rate = _get(results, SB_PER_MESSAGE, "latency", "offered_rate")
    return {
        "drain_per_message_vs_celery": pair(drain(SB_PER_MESSAGE), drain(RAW_CELERY), "msg/s"),
        "drain_per_message_single_vs_celery": pair(drain(SB_PER_MESSAGE, "single_publish"), drain(RAW_CELERY), "msg/s"),
        "drain_batched_vs_dramatiq": pair(drain(SB_BATCHED), drain(RAW_DRAMATIQ), "msg/s"),
        "publish_vs_apply_async": pair(
            _get(results, SB_PER_MESSAGE, "publish", "single", "median"), celery_publish, "msg/s"
        ),
        "publish_many_vs_apply_async": pair(
            _get(results, SB_BATCHED, "publish", "many", "median"), celery_publish, "msg/s"
        ),
        "http_publish_vs_noop_drf": pair(
            _get(results, SB_PER_MESSAGE, "http", "median"), _get(results, NOOP_DRF, "http", "median"), "req/s"
        ),
        "p99_latency_vs_celery": pair(
            _get(results, SB_PER_MESSAGE, "latency", "p99_ms"), _get(results, RAW_CELERY, "latency", "p99_ms"), "ms", 1
        )
        + ("" if rate is None else f" at {rate:,.0f}/s"),
        "p99_latency_ms": "Switchboard per-message, at the rate above",
        "drain_2proc_vs_1proc": pair(drain(SB_PER_MESSAGE), drain(SB_PER_MESSAGE, "one_process"), "msg/s"),
        "rss_100k_vs_10k": pair(mb(SB_PER_MESSAGE, -1), mb(SB_PER_MESSAGE, 0), "MB"),
        "drain_metrics_on_vs_off": pair(
            drain(SB_PER_MESSAGE, "metrics", "on"), drain(SB_PER_MESSAGE, "metrics", "off"), "msg/s"
        ),
        "rss_vs_celery": pair(mb(SB_PER_MESSAGE, 0), mb(RAW_CELERY, 0), "MB"),
        "redis_commands_per_message": "one publish() each vs raw Celery; commandstats: inside Lua and MULTI too",
        "redis_commands_per_message_batched": "publish_many backlog, batches of 50",
    }


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cells(row: tuple[str, ...], widths: list[int], left: tuple[int, ...]) -> list[str]:
    """Left-align the columns of words (`left`), right-align the numbers."""
    return [cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]


def _grid(rows: list[tuple[str, ...]], left: tuple[int, ...] = (0,)) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(_cells(row, widths, left)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def table(results: dict[str, Any]) -> str:
    checkpoints = results["config"]["rss_checkpoints"]
    first, last = _count(checkpoints[0]), _count(checkpoints[-1])
    throughput: list[tuple[str, ...]] = [
        ("msg/s (median)", "publish", "publish_many", "HTTP", "drain", "drain setup", "drain 1 proc",
         f"RSS@{first} MB", f"RSS@{last} MB"),
    ]  # fmt: skip
    latency: list[tuple[str, ...]] = [
        ("latency (median of reps)", "peer load/s", "achieved/s", "p50 ms", "p99 ms", "own load/s", "p50 ms", "p99 ms"),
    ]
    for system, data in results["systems"].items():
        drain = data.get("drain") or {}
        rss = data.get("rss") or []
        throughput.append((
            LABELS[system],
            _fmt(_get(results, system, "publish", "single", "median")),
            _fmt(_get(results, system, "publish", "many", "median")),
            _fmt(_get(results, system, "http", "median")),
            _fmt(drain.get("median")),
            drain.get("best_name", "-"),
            _fmt(_get(results, system, "drain", "one_process", "median")),
            _fmt(rss[0]["rss_bytes"] / 1e6, 1) if rss else "-",
            _fmt(rss[-1]["rss_bytes"] / 1e6, 1) if len(rss) > 1 else "-",
        ))  # fmt: skip
        if "latency" in data or "latency_own" in data:
            peer, own = data.get("latency") or {}, data.get("latency_own") or {}
            achieved = [r["achieved_rate"] for r in peer.get("runs", [])]
            latency.append((
                LABELS[system],
                _fmt(peer.get("offered_rate")),
                _fmt(sorted(achieved)[len(achieved) // 2] if achieved else None),
                _fmt(peer.get("p50_ms"), 1),
                _fmt(peer.get("p99_ms"), 1),
                _fmt(own.get("offered_rate")),
                _fmt(own.get("p50_ms"), 1),
                _fmt(own.get("p99_ms"), 1),
            ))  # fmt: skip
    lines = [*_grid(throughput), "", *_grid(latency), ""]
    absolutes = _absolutes(results)
    figures: list[tuple[str, ...]] = [("figure", "value", "target", "met", "measured")]
    for name, goal in results["targets"].items():
        met = results["met"][name]
        verdict = "n/a" if met is None else ("yes" if met else "NO")
        target = f"{goal['comparison']} {_fmt(goal['value'], 2)}"
        figures.append((name, _fmt(results["ratios"][name], 2), target, verdict, absolutes.get(name, "")))
    lines.extend(_grid(figures, left=(0, len(figures[0]) - 1)))
    return "\n".join(lines)


def finish(results: dict[str, Any], output: Path) -> str:
    """Add the ratios and verdicts, write the JSON, return the printable table."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")  # kept even if a figure fails
    results["ratios"] = ratios(results)
    goals = targets(results)
    results["targets"] = {name: {"comparison": c, "value": t} for name, (c, t) in goals.items()}
    results["met"] = verdicts(results["ratios"], goals)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    return table(results)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    print(finish(json.loads(path.read_text()), path))
