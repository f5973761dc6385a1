from argparse import ArgumentParser
from typing import Any

from django.conf import settings

from apps.accounts.audit import Actor
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
