from typing import Any

from apps.core.management.base import SwitchboardCommand
from apps.core.readiness import refuse_unsafe_redis
from apps.delivery.relay import relay_run, stop_on_signals


class Command(SwitchboardCommand):
    help = "Send due retries and delayed deliveries to their queues (run one or more; Ctrl-C stops)."

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unsafe_redis()
        self.stdout.write("Relay running; Ctrl-C or SIGTERM stops it.")
        relay_run(stop=stop_on_signals())
        self.stdout.write("Relay stopped.")
