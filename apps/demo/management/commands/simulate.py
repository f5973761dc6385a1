"""`manage.py simulate`: sample e-commerce traffic on the demo topology, with a live view and a summary."""

import json
import logging
import os
import random
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from apps.core.management.base import SwitchboardCommand
from apps.demo import simulation


class Command(SwitchboardCommand):
    help = (
        "Publish realistic orders to orders.created at --rate for --count messages or --duration seconds, "
        "show live progress, wait for the deliveries to finish, and summarise them from the ledger."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        amount = parser.add_mutually_exclusive_group()
        amount.add_argument("--count", type=int, help="Messages to publish (default 500).")
        amount.add_argument("--duration", type=float, help="Seconds to publish for, instead of --count.")
        parser.add_argument("--rate", type=float, default=50.0, help="Messages per second (default 50).")
        parser.add_argument("--via", choices=["api", "python"], default="api", help="REST API (default) or publish().")
        parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}", help="API base.")
        parser.add_argument("--api-key", default=None, help="Default: SWITCHBOARD_API_KEY, or var/credentials.json.")
        parser.add_argument("--fail-times", type=float, default=0.05, help="Share failing 1-3 times (default 0.05).")
        parser.add_argument("--fail-always", type=float, default=0.01, help="Share always failing (default 0.01).")
        parser.add_argument("--delayed", type=float, default=0.02, help="Share delayed 1-5 s (default 0.02).")
        parser.add_argument("--batch", type=float, default=0.05, help="Share of sends that are batches of 5-20.")
        parser.add_argument("--seed", type=int, default=None, help="Same seed, same orders.")
        parser.add_argument("--drain-timeout", type=float, default=120.0, help="Seconds to wait for deliveries.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rate"] <= 0:
            raise CommandError("--rate must be above 0")
        for share in ("fail_times", "fail_always", "delayed", "batch"):
            if not 0 <= options[share] <= 1:
                raise CommandError(f"--{share.replace('_', '-')} must be between 0 and 1")
        count = options["count"] if options["duration"] is None else int(options["duration"] * options["rate"])
        count = 500 if count is None else count
        run = f"sim-{int(time.time())}-{random.randrange(1000, 9999)}"
        mix = simulation.Mix(
            fail_times=options["fail_times"],
            fail_always=options["fail_always"],
            delayed=options["delayed"],
            batch=options["batch"],
        )
        sender = self._sender(options)
        console = Console(file=cast(IO[str], self.stdout))
        if not console.is_terminal:
            console.width = 120  # a log or a pipe: room for the whole table
        # One INFO line per request from httpx would bury the progress.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        console.print(f"Simulating {count} orders at {options['rate']:g}/s via {options['via']} (run {run})")
        started = time.monotonic()
        published = self._publish(console, sender, run=run, mix=mix, count=count, options=options)
        elapsed = time.monotonic() - started
        console.print(f"Published {published} in {elapsed:.1f} s ({published / elapsed:.0f}/s); waiting for deliveries")
        self._drain(console, run=run, timeout=options["drain_timeout"])
        console.print(_summary_table(run))

    def _sender(self, options: dict[str, Any]) -> simulation.Sender:
        if options["via"] == "python":
            return simulation.PythonSender()
        key = options["api_key"] or os.environ.get("SWITCHBOARD_API_KEY") or _stored_api_key()
        if not key:
            raise CommandError("no API key: pass --api-key, set SWITCHBOARD_API_KEY, or run `make run` first")
        return simulation.ApiSender(base_url=options["url"], api_key=key)

    def _publish(
        self,
        console: Console,
        sender: simulation.Sender,
        *,
        run: str,
        mix: simulation.Mix,
        count: int,
        options: dict[str, Any],
    ) -> int:
        rng = random.Random(options["seed"])
        orders = simulation.orders(run=run, mix=mix, seed=options["seed"])
        published, started, last_poll = 0, time.monotonic(), 0.0
        with _progress(console) as progress:
            task = progress.add_task("publishing", total=count, **_fields(None, 0.0))
            while published < count:
                size = min(count - published, rng.randint(5, 20) if rng.random() < mix.batch else 1)
                published += sender.send([next(orders) for _ in range(size)])
                now = time.monotonic()
                time.sleep(max(0.0, started + published / options["rate"] - now))
                if now - last_poll >= 0.5:
                    last_poll = now
                    rate = published / max(now - started, 1e-6)
                    progress.update(task, completed=published, **_fields(simulation.run_progress(run=run), rate))
            progress.update(task, completed=published)
        return published

    def _drain(self, console: Console, *, run: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with _progress(console) as progress:
            state = simulation.run_progress(run=run)
            task = progress.add_task(
                "delivering", total=state.total, completed=state.total - state.open, **_fields(state, 0.0)
            )
            while state.open and time.monotonic() < deadline:
                time.sleep(0.5)
                state = simulation.run_progress(run=run)
                progress.update(task, total=state.total, completed=state.total - state.open, **_fields(state, 0.0))
        if state.open:
            console.print(f"[yellow]{state.open} deliveries still open after {timeout:g} s (see the summary)[/]")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn(
            "delivered {task.fields[delivered]}  retrying {task.fields[retrying]}  dead {task.fields[dead]}  "
            "depth {task.fields[depth]}  {task.fields[rate]}"
        ),
        TimeElapsedColumn(),
        console=console,
    )


def _fields(state: simulation.Progress | None, rate: float) -> dict[str, Any]:
    return {
        "delivered": state.delivered if state else 0,
        "retrying": state.retrying if state else 0,
        "dead": state.dead if state else 0,
        "depth": state.depth if state else 0,
        "rate": f"{rate:.0f}/s" if rate else "",
    }


def _summary_table(run: str) -> Table:
    published = simulation.run_published(run=run)
    table = Table(title=f"Run {run}: {published} messages published (read from the ledger)")
    for column in ("subscription", "deliveries", "delivered", "retried", "dead-lettered", "lost", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "subscription" else "right")
    for row in simulation.run_summary(run=run):
        table.add_row(
            row.subscription,
            str(row.deliveries),
            str(row.delivered),
            str(row.retried),
            str(row.dead_lettered),
            str(row.lost),
            "-" if row.p50_ms is None else f"{row.p50_ms:.0f}",
            "-" if row.p99_ms is None else f"{row.p99_ms:.0f}",
            style="bold" if row.subscription == "all" else None,
        )
    return table


def _stored_api_key() -> str | None:
    path = Path(settings.VAR_DIR) / "credentials.json"
    if not path.exists():
        return None
    key = json.loads(path.read_text()).get("api_key")
    return str(key) if key else None
