from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import IntegrityError

from apps.accounts import services
from apps.core.management.base import SwitchboardCommand


class Command(SwitchboardCommand):
    help = "Create an API key and print it (the secret is shown only once)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="A name that says who uses the key, e.g. 'orders-service'.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            _, raw_key = services.api_key_create(name=name)
        except IntegrityError as exc:
            raise CommandError(f"An API key named {name!r} exists already.") from exc
        self.stdout.write(raw_key)
