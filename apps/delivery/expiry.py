"""Prompt expiry: open deliveries past their message's TTL become dead letters `expired` within seconds.

The relay sweeps every EXPIRY_SWEEP_SECONDS and beat every few seconds more (either
is enough; both are safe together), wherever the delivery waits: in its queue (also of
a paused subscription), in the delay schedule (delayed or retrying), or in the outbox.
The index `delivery_open_expiring` holds only open deliveries with a TTL, so a sweep
reads just those past it. A delivery that is running (its lease is held) is left to
its attempt, whose guard checked the TTL when it started.

Each is marked dead through the ledger with its dead letter; its entry in the delay
schedule is dropped, and a copy still queued is skipped and counted as a duplicate when
a worker takes it (guards.already_finished).
"""

import logging
from datetime import datetime

from django.utils import timezone

from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.deadletters.models import DeadLetterReason
from apps.delivery import ledger, scheduler
from apps.delivery.models import OPEN_STATES, Delivery

logger = logging.getLogger(__name__)

EXPIRY_SWEEP_SECONDS = 1.0


def deliveries_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Dead-letter up to `limit` open deliveries whose message expired by `now`; return how many."""
    now = now or timezone.now()
    candidates = list(
        Delivery.objects.filter(state__in=OPEN_STATES, expires_at__isnull=False, expires_at__lte=now)
        .select_related("message__topic", "subscription")
        .order_by("expires_at")[:limit]
    )
    if not candidates:
        return 0
    client = redis_client()
    members = {d.pk: scheduler.ScheduledDelivery(d.subscription.queue, d.pk).encode() for d in candidates}
    pipe = client.pipeline(transaction=False)
    for member in members.values():
        pipe.zscore(redis_keys.RUNNING, member)
    running = {d.pk for d, score in zip(candidates, pipe.execute(), strict=True) if score is not None}
    expired = []
    for delivery in candidates:
        if delivery.pk in running:
            continue
        error = f"The message expired at {delivery.expires_at.isoformat()} before it could be delivered."  # type: ignore[union-attr]
        if ledger.delivery_mark_dead(
            delivery=delivery, reason=DeadLetterReason.EXPIRED, attempts=delivery.attempts, error=error
        ):
            expired.append(delivery.pk)
    if expired:
        client.zrem(redis_keys.SCHEDULED, *[members[pk] for pk in expired])
        logger.info("%s deliveries expired before they could be delivered: dead letters.", len(expired))
    return len(expired)
