from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import IntegrityError
from django.utils import timezone

from apps.accounts import services
from apps.accounts.audit import Actor
from apps.accounts.scopes import SCOPE_NAMES
from apps.core.management.base import SwitchboardCommand


class Command(SwitchboardCommand):
    help = "Create an API key and print it (the secret is shown only once)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True, help="Who uses the key, e.g. 'orders-service'.")
        parser.add_argument(
            "--scopes", required=True, help=f"Comma-separated, of {', '.join(SCOPE_NAMES)} (admin implies all)."
        )
        parser.add_argument("--topics", default="", help="Comma-separated topic globs, e.g. 'orders.*'; none: all.")
        parser.add_argument("--expires", default=None, help="Lifetime, e.g. 12h, 90d or 4w; none: never expires.")

    def handle(self, *args: Any, name: str, scopes: str, topics: str, expires: str | None, **options: Any) -> None:
        expires_at = None if expires is None else timezone.now() + services.duration_parse(expires)
        try:
            _, raw_key = services.api_key_create(
                name=name,
                scopes=scopes.split(","),
                topic_patterns=topics.split(","),
                expires_at=expires_at,
                actor=Actor.from_command(),
            )
        except IntegrityError as exc:
            raise CommandError(f"An API key named {name!r} exists already.") from exc
        self.stdout.write(raw_key)
