from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from apps.core import retention
from apps.core.management.base import SwitchboardCommand


class Command(SwitchboardCommand):
    help = (
        "Show what retention would delete now (--dry-run), or delete it now, chunk by chunk, as beat does every minute."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted, per policy.")
        names = [policy.name for policy in retention.retention_policies()]
        parser.add_argument("--policy", choices=names, help="Only this policy (default: every policy).")

    def handle(self, *args: Any, dry_run: bool, policy: str | None, **options: Any) -> None:
        now = timezone.now()
        policies = retention.retention_policies()
        if policy is not None:
            policies = [retention.retention_policy(policy)]
        if not policies:
            raise CommandError("No retention policy is registered.")
        counts = {p.name: retention.retention_count(p, now=now) for p in policies}
        if dry_run:
            for p in policies:
                self.stdout.write(f"{p.name}: {counts[p.name]} would be deleted ({p.description})")
            return
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        ) as progress:  # fmt: skip
            for p in policies:
                task = progress.add_task(p.name, total=counts[p.name])
                deleted = retention.retention_run(p, now=now, max_chunks=None, on_chunk=_advance(progress, task))
                self.stdout.write(f"{p.name}: {deleted} deleted")


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda deleted: progress.advance(task, deleted)
