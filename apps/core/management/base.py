"""The base of Switchboard's management commands."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import SwitchboardError


class SwitchboardCommand(BaseCommand):
    """A command that reports a Switchboard error as one line (CommandError), never a traceback.

    Catch an error in `handle` only to add context to its message.
    """

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except SwitchboardError as exc:
            raise CommandError(str(exc)) from exc
