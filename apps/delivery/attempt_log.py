"""The attempt log of Python consumers: one DeliveryAttempt row per run of a handler.

Rows are collected while a batch runs and inserted with one statement per batch inside
the batch's transaction when it has one (`batched`); otherwise a transactional
consumer's successful attempt is inserted in its handler's transaction, so that it
costs no commit of its own, and the rest at the end of the batch. The log is a record
for people, not a state: a crash may lose the rows of the attempts it interrupted, which
the delivery's own counters still account for.
Webhook attempts are recorded by apps.delivery.webhooks, with the endpoint's answer.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from apps.core.errors import error_summary
from apps.delivery.models import DeliveryAttempt

SUCCESS = "success"
RETRYABLE = "retryable"
PERMANENT = "permanent"


@dataclass
class AttemptLog:
    # True when the batch runs in one transaction, which inserts the rows at its end.
    batched: bool = False
    rows: list[DeliveryAttempt] = field(default_factory=list)
    # SWITCHBOARD_ATTEMPT_LOG, read when the batch starts.
    enabled: bool = field(default_factory=lambda: bool(settings.SWITCHBOARD_ATTEMPT_LOG))

    def record(
        self, *, delivery_id: int, attempt: int, started_at: datetime, started: float, outcome: str, error: str = ""
    ) -> None:
        """Note one run of a handler that began at `started_at` (`started` on the perf counter)."""
        if not self.enabled:
            return
        self.rows.append(
            DeliveryAttempt(
                delivery_id=delivery_id,
                attempt=attempt,
                started_at=started_at,
                duration_ms=max(0, round((time.perf_counter() - started) * 1000)),
                outcome=outcome,
                error=error_summary(error) or "",
            )
        )

    def flush(self) -> None:
        """Insert the rows noted so far, in one statement."""
        if self.rows:
            DeliveryAttempt.objects.bulk_create(self.rows)
            self.rows = []

    def flush_unless_batched(self) -> None:
        """Insert the rows now, unless the batch's transaction inserts them at its end."""
        if not self.batched:
            self.flush()
