"""Turn the measurements into the ratios, the printed table and var/bench/latest.json."""

import json
from pathlib import Path
from typing import Any

from bench.systems import LABELS, NOOP_DRF, RAW_CELERY, RAW_DRAMATIQ, SB_BATCHED, SB_PER_MESSAGE

# Ratio name -> (comparison, target). ">=" ratios are better higher, "<=" better lower.
TARGETS: dict[str, tuple[str, float]] = {
    "drain_per_message_vs_celery": (">=", 1.0),
    "drain_batched_vs_dramatiq": (">=", 2.0),
    "publish_vs_apply_async": (">=", 0.5),
    "publish_many_vs_apply_async": (">=", 5.0),
    "http_publish_vs_noop_drf": (">=", 0.6),
    "p99_latency_vs_celery": ("<=", 1.5),
    "drain_2proc_vs_1proc": (">=", 1.7),
    "rss_100k_vs_10k": ("<=", 1.1),
    # Drain with metrics counting on against off (issue 10: at most 5% of drain throughput).
    "drain_metrics_on_vs_off": (">=", 0.95),
}


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


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    return {
        "drain_per_message_vs_celery": _ratio(
            _get(results, SB_PER_MESSAGE, "drain", "median"), _get(results, RAW_CELERY, "drain", "median")
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
    }


def verdicts(values: dict[str, float | None]) -> dict[str, bool | None]:
    met: dict[str, bool | None] = {}
    for name, (comparison, target) in TARGETS.items():
        value = values[name]
        met[name] = None if value is None else (value >= target if comparison == ">=" else value <= target)
    return met


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cells(row: tuple[str, ...], widths: list[int]) -> list[str]:
    """Left-align the first column, right-align the numbers."""
    return [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]


def _grid(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(_cells(row, widths)).rstrip() for row in rows]
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
    lines.append(f"{'ratio':<30} {'value':>8}  {'target':>7}  met")
    for name, (comparison, target) in TARGETS.items():
        value = results["ratios"][name]
        met = results["met"][name]
        verdict = "n/a" if met is None else ("yes" if met else "NO")
        lines.append(f"{name:<30} {_fmt(value, 2):>8}  {comparison}{target:>5}  {verdict}")
    return "\n".join(lines)


def finish(results: dict[str, Any], output: Path) -> str:
    """Add the ratios and verdicts, write the JSON, return the printable table."""
    results["ratios"] = ratios(results)
    results["targets"] = {name: {"comparison": c, "value": t} for name, (c, t) in TARGETS.items()}
    results["met"] = verdicts(results["ratios"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    return table(results)
