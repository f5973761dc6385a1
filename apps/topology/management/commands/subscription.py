import json
from argparse import ArgumentParser
from dataclasses import asdict
from typing import Any

from django.conf import settings

from apps.accounts.audit import Actor
from apps.core.management.base import SwitchboardCommand
from apps.topology import selectors, services, statistics


class Command(SwitchboardCommand):
    help = (
        "Pause or resume a subscription, or show its statistics: `subscription pause|resume|stats NAME`. "
        "Exit status: 0 done, 1 refused or failed, 2 bad usage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["pause", "resume", "stats"])
        parser.add_argument("name")
        parser.add_argument("--json", action="store_true", help="stats: print them as JSON.")

    def handle(self, *args: Any, action: str, name: str, **options: Any) -> None:
        subscription = selectors.subscription_get(name=name)
        if subscription is None:
            raise selectors.UnknownSubscriptionError(name)
        if action == "stats":
            stats = statistics.subscription_statistics(subscription=subscription)
            if options["json"]:
                self.stdout.write(json.dumps(asdict(stats)))
            else:
                self.stdout.write(_stats_text(asdict(stats)))
            return
        if action == "pause":
            confirmed = services.subscription_pause(subscription=subscription, actor=Actor.from_command())
            self.stdout.write(f"Paused {name}: its messages wait in {subscription.queue}.")
        else:
            confirmed = services.subscription_resume(subscription=subscription, actor=Actor.from_command())
            self.stdout.write(f"Resumed {name}.")
        if confirmed is None:
            seconds = settings.SWITCHBOARD_PAUSE_RECONCILE_SECONDS
            self.stderr.write(
                f"Redis is unreachable, so running workers were not told; they follow the saved flag "
                f"within {seconds:g} s of reaching Redis and the database."
            )


def _stats_text(stats: dict[str, Any]) -> str:
    """Render statistics as aligned `name: value` lines; unknown values (Redis or workers silent) as '?'."""
    lines = []
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        lines.append(f"{key.replace('_', ' ')}: {'?' if value is None else value}")
    return "\n".join(lines)
