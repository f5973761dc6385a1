"""List, show, replay or purge dead letters from the command line, with the API's filters."""

import json
from argparse import ArgumentParser
from dataclasses import asdict
from typing import Any

from django.core.management.base import CommandError
from django.db.models import QuerySet

from apps.accounts.audit import Actor
from apps.core.management.base import SwitchboardCommand
from apps.deadletters import selectors, services
from apps.deadletters.api.serializers import DeadLetterDetailSerializer, DeadLetterSummarySerializer
from apps.deadletters.filters import FILTER_NAMES
from apps.deadletters.models import DeadLetter


class Command(SwitchboardCommand):
    help = (
        "List or show dead letters (`dead_letters list [filters] [--limit N]`, `dead_letters show --id N`), or "
        "replay or purge those with the given --id values or matching the filters (--all, and no filter, for "
        "every one); replay and purge print their report as JSON. Exit status: 0 done, 1 refused or failed, "
        "2 bad usage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("operation", choices=["list", "show", "replay", "purge"])
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
        parser.add_argument("--limit", type=int, default=50, help="List: at most this many, newest first.")
        parser.add_argument("--json", action="store_true", help="List, show: print JSON (replay, purge always do).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["operation"] == "show":
            self._show(options)
            return
        if options["operation"] == "list":
            self._list(options)
            return
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

    def _show(self, options: dict[str, Any]) -> None:
        if not options["ids"] or len(options["ids"]) != 1:
            raise CommandError("show takes one --id.")
        dead_letter = selectors.dead_letter_get(dead_letter_id=options["ids"][0])
        if dead_letter is None:
            raise CommandError(f"There is no dead letter with id {options['ids'][0]}.")
        detail = DeadLetterDetailSerializer(dead_letter).data
        if options["json"]:
            self.stdout.write(json.dumps(detail, default=str))
            return
        for name, value in detail.items():
            if name != "last_error":
                self.stdout.write(
                    f"{name}: {json.dumps(value, default=str) if isinstance(value, dict | list) else value}"
                )
        self.stdout.write(f"last_error:\n{detail['last_error']}")

    def _list(self, options: dict[str, Any]) -> None:
        if options["ids"] or options["all"]:
            raise CommandError("list takes filters only.")
        if not 1 <= options["limit"] <= 10_000:
            raise CommandError("--limit must be from 1 to 10000.")
        filters = {name: options[name] for name in FILTER_NAMES if options[name] is not None}
        try:
            dead_letters = selectors.dead_letters_filter(filters=filters)
        except selectors.InvalidFilterError as exc:
            raise CommandError(f"Invalid filter: {exc}") from exc
        rows = DeadLetterSummarySerializer(
            selectors.dead_letters_page(dead_letters=dead_letters)[: options["limit"]], many=True
        ).data
        if options["json"]:
            self.stdout.write(json.dumps(rows, default=str))
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']}  {row['created_at']}  {row['topic']}  {row['subscription'] or '-'}  {row['reason']}  "
                f"attempts={row['attempts']}  {row['last_error'] or ''}".rstrip()
            )
        self.stderr.write(f"{len(rows)} dead letter(s) shown, newest first.")

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
