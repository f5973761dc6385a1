from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from apps.core.management.base import SwitchboardCommand
from apps.monitoring import alerting
from apps.monitoring.alert_rules import AlertRulesError, alerts_read
from apps.topology.models import Subscription


class Command(SwitchboardCommand):
    help = "Validate config/alerts.yaml and make the stored alert rules match it (all or nothing)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--file", type=Path, default=None, help="Rules file (default: SWITCHBOARD_ALERTS_FILE).")
        parser.add_argument("--check", action="store_true", help="Only validate the file; change nothing.")

    def handle(self, *args: Any, file: Path | None, check: bool, **options: Any) -> None:
        path = file or Path(settings.SWITCHBOARD_ALERTS_FILE)
        names = set(Subscription.objects.values_list("name", flat=True))
        try:
            spec = alerts_read(path, subscriptions=names)
        except AlertRulesError as exc:
            raise CommandError(f"{path} is not valid; nothing was changed:\n  " + "\n  ".join(exc.problems)) from exc
        if check:
            self.stdout.write(f"{path} is valid: {len(spec.rules)} rules, {len(spec.notifiers)} notifiers.")
            return
        rules, notifiers = alerting.alerts_sync(spec=spec)
        self.stdout.write(self.style.SUCCESS(f"Alert rules synced from {path}: {rules} rules, {notifiers} notifiers."))
