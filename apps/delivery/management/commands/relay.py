from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.readiness import UnsafeRedis, refuse_unsafe_redis
from apps.delivery.relay import relay_run, stop_on_signals


class Command(BaseCommand):
    help = "Send due retries and delayed deliveries to their queues (run one or more; Ctrl-C stops)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            refuse_unsafe_redis()
        except UnsafeRedis as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("Relay running; Ctrl-C or SIGTERM stops it.")
        relay_run(stop=stop_on_signals())
        self.stdout.write("Relay stopped.")
