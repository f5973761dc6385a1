"""Replay or purge dead letters from the command line: for selections too big for one HTTP request."""

import json
from argparse import ArgumentParser
from dataclasses import asdict
from typing import Any

from django.core.management.base import CommandError
from django.db.models import QuerySet

from apps.accounts.audit import Actor
from apps.core.management.base import SwitchboardCommand
from apps.deadletters import selectors, services
from apps.deadletters.filters import FILTER_NAMES
from apps.deadletters.models import DeadLetter


class Command(SwitchboardCommand):
    help = (
        "Replay or purge the dead letters with the given --id values, or those matching the filters "
        "(--all, and no filter, for every one). Progress goes to the log; the report, as JSON, to stdout."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("operation", choices=["replay", "purge"])
        parser.add_argument("--id", dest="ids", type=int, action="append", help="A dead letter's id (repeatable).")
        for name in FILTER_NAMES:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, help=f"Filter: {name}.")
        parser.add_argument("--all", action="store_true", help="Select every dead letter (with no filter).")
        parser.add_argument(
            "--rate",
            type=float,
            default=services.DEFAULT_REPLAY_RATE_PER_SECOND,
            help="Replay: deliveries per second (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dead_letters = self._selection(options)
        filters = {name: options[name] for name in FILTER_NAMES if options[name] is not None}
        targets = None if options["ids"] else {"filter": filters}
        if options["operation"] == "replay":
            report: Any = services.dead_letters_replay(
                dead_letters=dead_letters, rate_per_second=options["rate"], actor=Actor.from_command(), targets=targets
            )
        else:
            report = services.dead_letters_purge(dead_letters=dead_letters, actor=Actor.from_command(), targets=targets)
        self.stdout.write(json.dumps(asdict(report), default=str, sort_keys=True))

    def _selection(self, options: dict[str, Any]) -> QuerySet[DeadLetter]:
        filters = {name: options[name] for name in FILTER_NAMES if options[name] is not None}
        ids = options["ids"]
        if ids and (filters or options["all"]):
            raise CommandError("Give --id values, or filters, or --all: one of them.")
        if ids:
            missing = selectors.dead_letters_missing(ids=ids)
            if missing:
                raise CommandError(f"There is no dead letter with id {', '.join(map(str, missing))}.")
            return selectors.dead_letters_with_ids(ids=ids)
        if not filters and not options["all"]:
            raise CommandError("No filter selects every dead letter: give --all to mean it.")
        if filters and options["all"]:
            raise CommandError("--all goes only without filters.")
        try:
            return selectors.dead_letters_filter(filters=filters)
        except selectors.InvalidFilterError as exc:
            raise CommandError(f"Invalid filter: {exc}") from exc
