"""Run the benchmark: `python -m bench.run [--mode quick|full] [--only SYSTEM,...] [--profile]`.

One invocation, one private redis-server (AOF everysec, on a free port), every system in
turn: raw Celery, raw Dramatiq, Switchboard per-message, Switchboard batched, the
no-op DRF endpoint. Each system starts from an empty Redis (FLUSHALL), its own fresh
database (Switchboard) and fresh processes; each measurement is repeated and its median
kept. Prints a table and writes var/bench/latest.json. It never judges: a missed target
is reported, not raised; the exit status is non-zero only when the benchmark could not run.
"""

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import http_load, phases, profile, report, systems, workload
from bench.databases import Databases
from bench.modes import MODES, Mode, run_context
from bench.processes import run_to_end
from tests.harness.processes import ROOT, VENV_BIN, HarnessError, ManagedProcess
from tests.harness.redis_server import RedisServer
from tests.harness.stack import WebServer

PUBLISH_PATH = "/api/v1/topics/bench.per-message/messages"
# Messages per drain of the metrics on/off comparison (at least).
METRICS_COST_COUNT = 3_000
NOOP_PATH = "/api/v1/topics/bench.per-message/noop"


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


class Runner:
    def __init__(
        self,
        mode: Mode,
        run_dir: Path,
        redis: RedisServer,
        databases: Databases,
        *,
        chosen: list[str],
        profile_dir: Path | None,
    ):
        self.mode = mode
        self.chosen = chosen
        self.run_dir = run_dir
        self.redis = redis
        self.databases = databases
        self.profile_dir = profile_dir
        self.results: dict[str, Any] = {"systems": {}}
        # The faster two-process worker setup of each system's drain; memory, latency and
        # the profile run on it.
        self.best: dict[str, systems.WorkerSetup] = {}
        self.base_env = dict(
            os.environ,
            PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            BENCH_REDIS_URL=redis.url,
            REDIS_URL=redis.url,
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="WARNING",
        )

    def system_run(self, env: dict[str, str], *, switchboard: bool = False) -> phases.SystemRun:
        return phases.SystemRun(redis=self.redis, run_dir=self.run_dir, env=env, log=say, empty_database=switchboard)

    def _system_data(self, system: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "label": systems.LABELS[system],
            "load_average_at_start": round(os.getloadavg()[0], 2),
            "errors": [],
        }
        self.results["systems"][system] = data
        return data

    def run_system(self, system: str) -> None:
        if system in self.results["systems"]:
            return  # the no-op endpoint, measured beside Switchboard's publish endpoint
        say(f"== {systems.LABELS[system]}")
        data = self._system_data(system)
        self.redis.client().flushall()
        background: list[ManagedProcess] = []
        try:
            env = dict(self.base_env)
            if system in (*systems.SWITCHBOARD_SYSTEMS, systems.NOOP_DRF):
                env.update(self.databases.fresh(system, self.base_env))
                data["api_key"] = self._topology(system, env)
            if system in systems.SWITCHBOARD_SYSTEMS:
                background.append(self.system_run(env).stack.start_relay(name=f"{system}-relay"))
            h = self.system_run(env, switchboard=system in systems.SWITCHBOARD_SYSTEMS)
            if system != systems.NOOP_DRF:
                self._publish(h, system, data)
            if system in (systems.SB_PER_MESSAGE, systems.NOOP_DRF):
                self._http(system, data, env)
            if system in systems.QUEUE_SYSTEMS:
                self._drain(h, system, data)
                self._steady(h, system, data)
            if system in systems.SWITCHBOARD_SYSTEMS and self.profile_dir is not None:
                self._guarded(data, "profile", lambda: self._profile(h, system, data))
            if system in systems.SWITCHBOARD_SYSTEMS:
                out = run_to_end(
                    "deliveries",
                    [sys.executable, "-m", "bench.sb_setup", "deliveries"],
                    env,
                    self.run_dir / "setup.log",
                    timeout=120,
                )
                data["deliveries_by_state"] = json.loads(out)
        except HarnessError as exc:
            data["errors"].append(str(exc))
            say(f"  FAILED: {exc}")
        finally:
            data.pop("api_key", None)
            phases.stop_all(background)

    def _guarded(self, data: dict[str, Any], what: str, action: Any) -> None:
        try:
            action()
        except HarnessError as exc:
            data["errors"].append(f"{what}: {exc}")
            say(f"  {what} FAILED: {exc}")
        except Exception as exc:  # noqa: BLE001 - a broken phase is reported, the others still run
            data["errors"].append(f"{what}: {exc!r}\n{traceback.format_exc()}")
            say(f"  {what} FAILED: {exc!r}")

    def _topology(self, system: str, env: dict[str, str]) -> str:
        out = run_to_end(
            "topology",
            [sys.executable, "-m", "bench.sb_setup", "topology", system],
            env,
            self.run_dir / "setup.log",
            timeout=120,
        )
        return str(json.loads(out)["api_key"])

    def _publish(self, h: phases.SystemRun, system: str, data: dict[str, Any]) -> None:
        modes = ["single", "many"] if system in systems.SWITCHBOARD_SYSTEMS else ["single"]
        data["publish"] = {m: {"runs": []} for m in modes}
        for rep in range(self.mode.repetitions):
            for mode in modes:

                def one(mode: str = mode, rep: int = rep) -> None:
                    rate = phases.publish_rate(
                        h, system, mode, count=self.mode.publish_count, batch=self.mode.publish_batch
                    )
                    data["publish"][mode]["runs"].append(rate)
                    say(f"  publish ({mode}) rep {rep + 1}/{self.mode.repetitions}: {rate:,.0f} msg/s")

                self._guarded(data, f"publish {mode}", one)
        for entry in data["publish"].values():
            entry["median"] = phases.median(entry["runs"])
        if "many" in data["publish"]:
            data["publish"]["many"]["batch"] = self.mode.publish_batch

    def _http(self, system: str, data: dict[str, Any], env: dict[str, str]) -> None:
        """POST to the publish endpoint, alternating repetitions with the no-op endpoint's.

        Both gunicorns run side by side (the no-op one on its own fresh database), so a
        change in the machine's load hits both alike and leaves their ratio alone.
        """
        endpoints = [(system, data, env)]
        if system == systems.SB_PER_MESSAGE and systems.NOOP_DRF in self.chosen:
            say(f"  (with {systems.LABELS[systems.NOOP_DRF]}, repetitions alternating)")
            noop = self._system_data(systems.NOOP_DRF)
            noop_env = dict(self.base_env, **self.databases.fresh(systems.NOOP_DRF, self.base_env))
            noop["api_key"] = self._topology(systems.NOOP_DRF, noop_env)
            noop["http_alternating_with"] = system
            endpoints.append((systems.NOOP_DRF, noop, noop_env))
        servers: list[WebServer] = []
        targets = []
        try:
            for name, entry, server_env in endpoints:
                if name == systems.NOOP_DRF:
                    app, settings, path = "bench.noop.wsgi:application", "bench.noop.settings", NOOP_PATH
                else:
                    app, settings, path = "project.wsgi:application", "bench.settings", PUBLISH_PATH
                entry["http"] = {"runs": [], "path": path}
                h = self.system_run(server_env, switchboard=name in systems.SWITCHBOARD_SYSTEMS)
                gunicorn = phases.start_gunicorn(h, app, settings=settings, tag=f"{name}-gunicorn")
                servers.append(gunicorn)
                body = http_load.publish_body(workload.PAYLOAD)
                targets.append(
                    (h, entry, http_load.Target("127.0.0.1", gunicorn.port, path, entry.pop("api_key"), body))
                )
            for rep in range(self.mode.repetitions):
                for h, entry, target in targets:

                    def one(
                        h: phases.SystemRun = h, entry: dict[str, Any] = entry, target: Any = target, rep: int = rep
                    ) -> None:
                        rate = phases.http_rate(h, target, count=self.mode.http_count)
                        entry["http"]["runs"].append(rate)
                        say(f"  HTTP POST {target.path} rep {rep + 1}/{self.mode.repetitions}: {rate:,.0f} req/s")

                    self._guarded(entry, "http", one)
        finally:
            phases.stop_all([server.process for server in servers])
            for _, entry, _ in endpoints:
                entry.pop("api_key", None)  # never into the JSON
        for _, entry, _ in endpoints:
            entry["http"]["median"] = phases.median(entry["http"]["runs"])

    def _drain(self, h: phases.SystemRun, system: str, data: dict[str, Any]) -> None:
        setups = systems.drain_setups(system)
        drain: dict[str, Any] = {"count": self.mode.drain_count, "setups": {}}
        data["drain"] = drain
        for setup in setups:
            drain["setups"][setup.key] = {"name": setup.name, "runs": []}
        self._drain_reps(h, system, setups, drain["setups"], data)
        medians = {key: phases.median(entry["runs"]) for key, entry in drain["setups"].items()}
        for key, value in medians.items():
            drain["setups"][key]["median"] = value
        measured = {key: value for key, value in medians.items() if value is not None}
        if not measured:
            return
        best_key = max(measured, key=lambda key: measured[key])
        best = next(s for s in setups if s.key == best_key)
        drain.update(best=best_key, best_name=best.name, median=measured[best_key])
        self.best[system] = best
        if system == systems.SB_PER_MESSAGE:
            single = systems.one_process(best)
            entries: dict[str, Any] = {single.key: {"name": single.name, "runs": []}}
            self._drain_reps(h, system, [single], entries, data)
            drain["one_process"] = {**entries[single.key], "median": phases.median(entries[single.key]["runs"])}
            # The same backlog published one publish() call at a time, as raw Celery's is.
            entries = {best.key: {"name": best.name, "publish": "one publish() per message", "runs": []}}
            self._drain_reps(h, system, [best], entries, data, single=True)
            drain["single_publish"] = {**entries[best.key], "median": phases.median(entries[best.key]["runs"])}
            self._guarded(data, "metrics cost", lambda: self._metrics_cost(h, system, best, drain))
            self._guarded(
                data,
                "attempt log cost",
                lambda: self._on_off_cost(h, system, best, drain, key="attempt_log", env_var="SWITCHBOARD_ATTEMPT_LOG"),
            )

    def _metrics_cost(
        self, h: phases.SystemRun, system: str, setup: systems.WorkerSetup, drain: dict[str, Any]
    ) -> None:
        """Drain with metrics counting off and on (SWITCHBOARD_METRICS_COUNTING), in alternating order.

        Same workers setup, same count; only the counting differs, so the ratio prices
        what apps.core.telemetry adds to a delivery (and the /metrics figures cost nothing
        until scraped).
        """
        self._on_off_cost(h, system, setup, drain, key="metrics", env_var="SWITCHBOARD_METRICS_COUNTING")

    def _on_off_cost(
        self,
        h: phases.SystemRun,
        system: str,
        setup: systems.WorkerSetup,
        drain: dict[str, Any],
        *,
        key: str,
        env_var: str,
    ) -> None:
        """Drain with `env_var` false and true, in alternating order; record the rates under drain[key].

        Same workers setup, same count; only the feature differs, so the ratio prices it
        (metrics counting; the attempt log of Python consumers, SWITCHBOARD_ATTEMPT_LOG).
        """
        runs: dict[str, Any] = {"on": h, "off": dataclasses.replace(h, env={**h.env, env_var: "false"})}
        found: dict[str, list[float]] = {"on": [], "off": []}
        # Pairs in the order off-on, on-off, ...: an even number of them, so each side runs
        # first as often (the first drain of a pair ran faster in both orders on a busy
        # machine, by more than counting could cost).
        pairs = self.mode.repetitions + self.mode.repetitions % 2
        # Longer drains than quick mode's 1,000: a few seconds each smooth out the machine's noise.
        count = max(self.mode.drain_count, METRICS_COST_COUNT)
        for rep in range(pairs):
            for label in ("off", "on") if rep % 2 == 0 else ("on", "off"):
                result = phases.drain_rate(runs[label], system, setup, count=count, tag=f"{system}-{key}-{label}")
                found[label].append(result.rate)
                say(f"  drain {count:,} ({setup.name}, {key} {label}) pair {rep + 1}/{pairs}: {result.rate:,.0f} msg/s")
        drain[key] = {
            "setup": setup.name,
            "count": count,
            **{label: {"runs": rates, "median": phases.median(rates)} for label, rates in found.items()},
        }

    def _drain_reps(
        self,
        h: phases.SystemRun,
        system: str,
        setups: list[systems.WorkerSetup],
        entries: dict[str, Any],
        data: dict[str, Any],
        *,
        single: bool = False,
    ) -> None:
        how = ", one publish() each" if single else ""
        for rep in range(self.mode.repetitions):
            for setup in setups:

                def one(setup: systems.WorkerSetup = setup, rep: int = rep) -> None:
                    result = phases.drain_rate(
                        h, system, setup, count=self.mode.drain_count, tag=f"{system}-drain", single=single
                    )
                    entries[setup.key]["runs"].append(result.rate)
                    entries[setup.key].setdefault("redis_commands_per_message", result.commands_per_message)
                    say(
                        f"  drain {self.mode.drain_count:,} ({setup.name}{how}) rep {rep + 1}/{self.mode.repetitions}:"
                        f" {result.rate:,.0f} msg/s"
                    )

                self._guarded(data, f"drain {setup.name}", one)

    def _steady(self, h: phases.SystemRun, system: str, data: dict[str, Any]) -> None:
        """Measure memory, then latency at half the peer's drain rate (and, for Switchboard, its own)."""
        setup = self.best.get(system)
        if setup is None:
            return
        peer = systems.LATENCY_PEER[system]
        peer_drain = (self.results["systems"].get(peer) or {}).get("drain", {}).get("median")
        loads = {}
        descriptions = {"peer": f"half the median drain rate of {systems.LABELS[peer]}"}
        if system == systems.RAW_CELERY and systems.SB_PER_MESSAGE in self.chosen:
            pass  # measured after Switchboard per-message, at the rate both are offered (_latency_common)
        elif system == systems.SB_PER_MESSAGE and peer_drain:
            # Both systems are offered the same rate: half the slower one's drain rate.
            loads["peer"] = min(peer_drain, data["drain"]["median"]) / 2
            descriptions["peer"] = COMMON_LOAD
        elif peer_drain:
            loads["peer"] = peer_drain / 2
        else:
            data["errors"].append(f"latency: no drain rate of {systems.LABELS[peer]} to derive the load from")
        if system in systems.SWITCHBOARD_SYSTEMS:
            loads["own"] = data["drain"]["median"] / 2
            descriptions["own"] = f"half the median drain rate of {systems.LABELS[system]}"
        say(f"  memory and latency on fresh workers ({setup.name})")

        def run() -> None:
            result = phases.steady(
                h,
                system,
                setup,
                checkpoints=self.mode.rss_checkpoints,
                loads=loads,
                seconds=self.mode.latency_seconds,
                repetitions=self.mode.repetitions,
            )
            data["rss"] = result.rss
            for name, runs in result.latency_runs.items():
                data["latency" if name == "peer" else "latency_own"] = _latency_entry(
                    descriptions[name], loads[name], runs
                )
            for point in result.rss:
                say(f"  worker RSS after {point['messages']:,} messages: {point['rss_bytes'] / 1e6:,.1f} MB")

        self._guarded(data, "memory and latency", run)

    def latency_common(self) -> None:
        """Measure raw Celery's latency at the rate Switchboard per-message was offered (on fresh workers)."""
        celery = self.results["systems"].get(systems.RAW_CELERY)
        switchboard = self.results["systems"].get(systems.SB_PER_MESSAGE) or {}
        rate = (switchboard.get("latency") or {}).get("offered_rate")
        setup = self.best.get(systems.RAW_CELERY)
        if celery is None or rate is None or setup is None:
            return
        say(f"== {systems.LABELS[systems.RAW_CELERY]} again: latency at {rate:,.0f}/s ({COMMON_LOAD})")
        self.redis.client().flushall()
        h = self.system_run(dict(self.base_env))

        def run() -> None:
            result = phases.steady(
                h,
                systems.RAW_CELERY,
                setup,
                checkpoints=(),
                loads={"peer": rate},
                seconds=self.mode.latency_seconds,
                repetitions=self.mode.repetitions,
            )
            celery["latency"] = _latency_entry(COMMON_LOAD, rate, result.latency_runs["peer"])

        self._guarded(celery, "latency at the common rate", run)

    def _profile(self, h: phases.SystemRun, system: str, data: dict[str, Any]) -> None:
        assert self.profile_dir is not None
        setup = self.best.get(system, systems.SOLO_2)
        data["per_delivery_costs"] = profile.per_delivery_costs(h, system)
        data["profile"] = profile.profile_drain(
            h, system, setup, count=self.mode.drain_count * 2, out_dir=self.profile_dir
        )


COMMON_LOAD = "half the slower median drain rate of raw Celery and Switchboard per-message"


def _latency_entry(load: str, rate: float, runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "load": load,
        "offered_rate": rate,
        "runs": runs,
        "p50_ms": phases.median([r["p50_ms"] for r in runs]),
        "p99_ms": phases.median([r["p99_ms"] for r in runs]),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=sorted(MODES), default=os.environ.get("BENCH") or "quick")
    parser.add_argument("--only", default="", help="comma-separated systems: " + ", ".join(systems.ALL_SYSTEMS))
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "latest.json")
    parser.add_argument("--profile", action="store_true", help="also run py-spy on Switchboard workers (needs py-spy)")
    args = parser.parse_args(argv)
    args.output = args.output.resolve()
    mode = MODES[args.mode]
    chosen = [s for s in args.only.split(",") if s] or list(systems.ALL_SYSTEMS)
    unknown = sorted(set(chosen) - set(systems.ALL_SYSTEMS))
    if unknown:
        parser.error(f"unknown systems: {', '.join(unknown)}")
    run_dir = ROOT / "var" / "bench" / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    started = time.time()
    say(f"Switchboard benchmark, {mode.name} mode, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    redis = RedisServer(run_dir / "redis", client_timeout=30)
    try:
        redis.start()
        say(f"redis-server {redis.version()} with AOF everysec on port {redis.port}")
        databases = Databases(run_dir, os.environ.get("BENCH_DATABASE_URL"))
        databases.prepare(dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", REDIS_URL=redis.url), say)
        runner = Runner(
            mode, run_dir, redis, databases, chosen=chosen, profile_dir=run_dir / "profile" if args.profile else None
        )
        for system in systems.ALL_SYSTEMS:
            if system in chosen:
                runner.run_system(system)
        runner.latency_common()
        results = runner.results
        results.update(run_context(mode, redis, databases, started))
    except (HarnessError, OSError) as exc:
        say(f"The benchmark could not run: {exc}")
        return 1
    except KeyboardInterrupt:
        say("Interrupted.")
        return 1
    finally:
        redis.stop()
    say(f"done in {time.time() - started:,.0f} s; results in {args.output}")
    print()
    print(report.finish(results, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
