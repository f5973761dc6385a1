from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from apps.accounts.audit import Actor
from apps.core.management.base import SwitchboardCommand
from apps.topology import services
from apps.topology.loader import TopologyError, topology_read


class Command(SwitchboardCommand):
    help = "Validate config/topology.yaml and make the database match it (all or nothing)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--file", type=Path, default=None, help="Topology file (default: SWITCHBOARD_TOPOLOGY_FILE)."
        )
        parser.add_argument("--check", action="store_true", help="Only validate the file; change nothing.")
        parser.add_argument(
            "--apply-paused",
            action="store_true",
            help="Set `paused` as the file says, for the subscriptions whose entry sets it "
            "(without it a sync never changes a subscription's pause).",
        )
        parser.add_argument(
            "--prune", action="store_true", help="Delete subscriptions and topics the file no longer declares."
        )

    def handle(
        self, *args: Any, file: Path | None, check: bool, prune: bool, apply_paused: bool, **options: Any
    ) -> None:
        path = file or Path(settings.SWITCHBOARD_TOPOLOGY_FILE)
        try:
            spec = topology_read(path)
        except TopologyError as exc:
            raise CommandError(f"{path} is not valid; nothing was changed:\n  " + "\n  ".join(exc.problems)) from exc
        if check:
            self.stdout.write(f"{path} is valid: {len(spec.topics)} topics, {len(spec.subscriptions)} subscriptions.")
            return
        try:
            report = services.topology_sync(
                spec=spec, prune=prune, apply_paused=apply_paused, actor=Actor.from_command()
            )
        except services.TopologyPruneError as exc:
            raise CommandError(f"{exc}; nothing was changed.") from exc
        for outcome in ("created", "updated", "deleted"):
            for entry in getattr(report, outcome):
                self.stdout.write(f"{outcome}: {entry}")
        for entry in report.not_declared:
            self.stdout.write(self.style.WARNING(f"not in {path.name} (kept; --prune deletes it): {entry}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Topology synced from {path}: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged."
            )
        )
