"""What an attempt ends in: a delivery state, or a copy skipped (missing, duplicate).

`FINAL_OUTCOMES` end a delivery for good: its lease is released and its start counter
forgotten. A retrying delivery keeps its counter, so a poison message that kills its
worker is still charged its starts.
"""

from django.db import transaction

from apps.deadletters.models import DeadLetterReason
from apps.delivery import counters, error_reports, ledger
from apps.delivery.models import Delivery, DeliveryState

MISSING = "missing"
DUPLICATE = "duplicate"
FINAL_OUTCOMES = {DeliveryState.DELIVERED, DeliveryState.DEAD, DUPLICATE, MISSING}


def duplicate(subscription: str) -> str:
    """Count a skipped copy of a delivery (a redelivery, a second send) and name the outcome."""
    counters.count(counters.duplicates(subscription))
    return DUPLICATE


def dead(
    *, delivery: Delivery, reason: DeadLetterReason, attempts: int, error: str, exc: BaseException | None = None
) -> str:
    """Dead-letter the delivery (see ledger.delivery_mark_dead); a copy another attempt finished is a duplicate.

    Once the dead letter is committed it is reported to Sentry, once (apps.delivery.error_reports).
    """
    if ledger.delivery_mark_dead(delivery=delivery, reason=reason, attempts=attempts, error=error):
        transaction.on_commit(
            lambda: error_reports.dead_letter_report(
                delivery=delivery, reason=reason, attempts=attempts, error=error, exc=exc
            )
        )
        return DeliveryState.DEAD
    return duplicate(delivery.subscription.name)
