"""Builders for the dead-letter tests: dead deliveries and their dead letters, made directly."""

import datetime
from typing import Any

from django.utils import timezone

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import ledger
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic
from tests.factories import DeadLetterFactory, DeliveryFactory, MessageFactory

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "apps/demo/consumers.py", line 58, in billing_charge\n'
    "    raise RetryableError(reason)\n"
    "apps.core.errors.RetryableError: simulated failure (fail_always)\n"
)
T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.UTC)


def dead_letter(
    subscription: Subscription,
    *,
    reason: DeadLetterReason = DeadLetterReason.EXHAUSTED,
    created_at: datetime.datetime | None = None,
    replayed_at: datetime.datetime | None = None,
    message: Message | None = None,
    delivery_state: DeliveryState = DeliveryState.DEAD,
    attempts: int = 5,
    **message_fields: Any,
) -> DeadLetter:
    """Make a delivery of `subscription` that died after `attempts`, and its dead letter."""
    if message is None:
        message = MessageFactory.create(topic=subscription.topic, **message_fields)
    delivery = DeliveryFactory.create(
        message=message,
        subscription=subscription,
        state=delivery_state,
        attempts=attempts,
        last_error=TRACEBACK,
        finished_at=timezone.now(),
        sent_at=timezone.now(),
    )
    return dead_letter_of(delivery, reason=reason, attempts=attempts, created_at=created_at, replayed_at=replayed_at)


def dead_letter_of(
    delivery: Delivery,
    *,
    reason: DeadLetterReason = DeadLetterReason.EXHAUSTED,
    attempts: int = 5,
    created_at: datetime.datetime | None = None,
    replayed_at: datetime.datetime | None = None,
) -> DeadLetter:
    """Record a death of `delivery` (a delivery may die again after a replay), whatever its state now."""
    created = DeadLetterFactory.create(delivery=delivery, reason=reason, attempts=attempts, last_error=TRACEBACK)
    return _backdated(created, created_at=created_at, replayed_at=replayed_at)


def unroutable_dead_letter(topic: Topic, **message_fields: Any) -> DeadLetter:
    """Make a message of `topic` that no subscription took, kept as a dead letter."""
    message = MessageFactory.create(topic=topic, **message_fields)
    [created] = ledger.dead_letters_unroutable(messages=[message])
    return created


def _backdated(
    dead: DeadLetter, *, created_at: datetime.datetime | None, replayed_at: datetime.datetime | None
) -> DeadLetter:
    """Set what the service sets itself (creation time) or later (replay), for filter tests."""
    if created_at is None and replayed_at is None:
        return dead
    changes: dict[str, Any] = {"replayed_at": replayed_at}
    if created_at is not None:
        changes["created_at"] = created_at
    DeadLetter.objects.filter(pk=dead.pk).update(**changes)
    dead.refresh_from_db()
    return dead
