"""`manage.py topology export`: the topology in the database as topology.yaml."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from apps.core.management.base import SwitchboardCommand
from apps.topology.export import topology_export


class Command(SwitchboardCommand):
    help = (
        "Export the topology in the database as YAML that `sync_topology --file` accepts back unchanged "
        "(`topology export [--output FILE]`; stdout by default). Exit status: 0 done, 1 failed, 2 bad usage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["export"])
        parser.add_argument("--output", type=Path, help="Write to this file instead of stdout.")

    def handle(self, *args: Any, action: str, output: Path | None, **options: Any) -> None:
        text = topology_export()
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            output.write_text(text)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from exc
        self.stderr.write(f"Wrote the topology to {output}.")
