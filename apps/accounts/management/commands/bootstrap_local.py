import json
import os
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from apps.accounts import services
from apps.accounts.audit import Actor
from apps.accounts.scopes import Scope
from apps.core.management.base import SwitchboardCommand

LOCAL_API_KEY_NAME = "local"


class Command(SwitchboardCommand):
    help = (
        "Ensure an admin user and an API key for the embedded default, and print them. "
        "Honours DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_PASSWORD, SWITCHBOARD_API_KEY and "
        "SWITCHBOARD_METRICS_TOKEN (the bearer token of /metrics); "
        "generated secrets are kept in the credentials file so a second run reuses them."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--credentials", type=Path, default=settings.VAR_DIR / "credentials.json")

    def handle(self, *args: Any, credentials: Path, **options: Any) -> None:
        stored = json.loads(credentials.read_text()) if credentials.exists() else {}
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or stored.get("username") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or stored.get("password") or secrets.token_urlsafe(12)
        chosen_key = os.environ.get("SWITCHBOARD_API_KEY")
        if chosen_key:
            try:
                services.api_key_check_chosen(raw_key=chosen_key)
            except services.WeakApiKeyError as exc:
                raise CommandError(f"SWITCHBOARD_API_KEY is not usable: {exc}") from exc
        raw_key = chosen_key or stored.get("api_key")
        metrics_token = (
            os.environ.get("SWITCHBOARD_METRICS_TOKEN") or stored.get("metrics_token") or secrets.token_urlsafe(24)
        )

        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user_model.objects.create_superuser(username=username, email="", password=password)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        try:
            _, known_key = services.api_key_ensure(
                name=LOCAL_API_KEY_NAME, raw_key=raw_key, scopes=[Scope.ADMIN], actor=Actor.from_command()
            )
        except services.InvalidApiKeyError as exc:
            source = "SWITCHBOARD_API_KEY" if os.environ.get("SWITCHBOARD_API_KEY") else str(credentials)
            raise CommandError(f"The API key in {source} is not valid: {exc}") from exc
        if known_key is None:
            # The key exists but its secret was lost with the credentials file: rotate it.
            _, known_key = services.api_key_ensure(
                name=LOCAL_API_KEY_NAME,
                raw_key=services.api_key_generate(),
                scopes=[Scope.ADMIN],
                actor=Actor.from_command(),
            )
            self.stderr.write(self.style.WARNING("The local API key's secret was unknown; it was replaced."))

        credentials.parent.mkdir(parents=True, exist_ok=True)
        stored = {"username": username, "password": password, "api_key": known_key, "metrics_token": metrics_token}
        credentials.write_text(json.dumps(stored))
        credentials.chmod(0o600)
        self.stdout.write(f"admin login: {username} / {password}")
        self.stdout.write(f"API key:     {known_key}")
        self.stdout.write(f"metrics:     Authorization: Bearer {metrics_token}")
