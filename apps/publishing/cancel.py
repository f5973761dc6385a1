"""Cancel a message: its deliveries that have not run become `cancelled` and never run.

Each open delivery is cancelled through the ledger, whose UPDATE names the open states,
so a race with an attempt is decided there: whichever records first wins, and the other
changes nothing. A delivery whose attempt is running now (its lease is held) is left to
that attempt and reported `running`; one that finished is reported with its state. The
cancelled ones leave the delay schedule; a copy still queued is skipped and counted as
a duplicate when a worker takes it.
"""

import contextlib
import logging
from dataclasses import dataclass

import redis
from django.db import transaction

from apps.accounts import audit
from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.delivery import ledger, scheduler
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.publishing.models import Message

logger = logging.getLogger(__name__)

CANCELLED = "cancelled"
RUNNING = "running"
FINISHED = "finished"


@dataclass(frozen=True)
class CancelOutcome:
    subscription: str
    # `cancelled` by this request; `running` (an attempt holds it and may still deliver
    # it); `finished` before (delivered, dead, or cancelled already).
    outcome: str
    # Its state after the request.
    state: str


def message_cancel(*, message: Message, actor: audit.Actor = audit.PYTHON_CODE) -> list[CancelOutcome]:
    """Cancel every open delivery of `message` that is not running; say what became of each.

    The cancellations and their audit row commit together.
    """
    deliveries = list(Delivery.objects.filter(message=message).select_related("subscription").order_by("pk"))
    client = redis_client()
    members = {d.pk: scheduler.ScheduledDelivery(d.subscription.queue, d.pk).encode() for d in deliveries}
    try:
        running = _running(client, deliveries, members)
    except redis.RedisError as exc:
        # Which attempt runs is unknown: the ledger alone decides each race.
        logger.warning("Cannot read the leases (%s); cancelling message %s by the ledger alone.", exc, message.pk)
        running = set()
    outcomes: list[CancelOutcome] = []
    cancelled: list[int] = []
    with transaction.atomic():
        for delivery in deliveries:
            state = str(delivery.state)
            if delivery.state not in OPEN_STATES:
                outcome = FINISHED
            elif delivery.pk in running:
                outcome = RUNNING
            elif ledger.delivery_mark_cancelled(delivery_id=delivery.pk):
                outcome, state = CANCELLED, DeliveryState.CANCELLED.value
                cancelled.append(delivery.pk)
            else:  # an attempt recorded its outcome in between: the ledger decided
                outcome, state = FINISHED, Delivery.objects.values_list("state", flat=True).get(pk=delivery.pk)
            outcomes.append(CancelOutcome(subscription=delivery.subscription.name, outcome=outcome, state=state))
        targets = {"message": str(message.pk), "deliveries": cancelled}
        audit.record(actor, audit.AuditAction.MESSAGE_CANCEL, objects=targets, count=len(cancelled))
    if cancelled:
        # Without Redis, their schedule entries come due and their copies are skipped as duplicates.
        with contextlib.suppress(redis.RedisError):
            client.zrem(redis_keys.SCHEDULED, *[members[pk] for pk in cancelled])
    return outcomes


def _running(client: redis.Redis, deliveries: list[Delivery], members: dict[int, bytes]) -> set[int]:
    """The deliveries whose lease an attempt holds now."""
    pipe = client.pipeline(transaction=False)
    for delivery in deliveries:
        pipe.zscore(redis_keys.RUNNING, members[delivery.pk])
    return {d.pk for d, score in zip(deliveries, pipe.execute(), strict=True) if score is not None}
