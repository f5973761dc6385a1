from argparse import ArgumentParser
from typing import Any

from apps.accounts import services
from apps.accounts.audit import Actor
from apps.core.management.base import SwitchboardCommand


class Command(SwitchboardCommand):
    help = "Revoke the API key with this name: it authenticates no more."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        services.api_key_revoke(api_key=services.api_key_get(name=name), actor=Actor.from_command())
        self.stdout.write(f"Revoked the API key {name!r}.")
