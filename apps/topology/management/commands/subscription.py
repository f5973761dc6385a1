from argparse import ArgumentParser
from typing import Any

from apps.core.management.base import SwitchboardCommand
from apps.topology import selectors, services


class Command(SwitchboardCommand):
    help = "Pause or resume a subscription: `subscription pause NAME`, `subscription resume NAME`."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["pause", "resume"])
        parser.add_argument("name")

    def handle(self, *args: Any, action: str, name: str, **options: Any) -> None:
        subscription = selectors.subscription_get(name=name)
        if subscription is None:
            raise selectors.UnknownSubscriptionError(name)
        if action == "pause":
            services.subscription_pause(subscription=subscription)
            self.stdout.write(f"Paused {name}: its messages wait in {subscription.queue}.")
        else:
            services.subscription_resume(subscription=subscription)
            self.stdout.write(f"Resumed {name}.")
