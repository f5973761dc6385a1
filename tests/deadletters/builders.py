"""Builders for the dead-letter tests: dead deliveries and their dead letters, made directly."""

import datetime
from typing import Any

from django.utils import timezone

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic
from tests.factories import DeliveryFactory, MessageFactory

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
    """Record a death of `delivery` (a delivery may die again after a replay)."""
    message = delivery.message
    created = DeadLetter.objects.create(
        message=message,
        delivery=delivery,
        subscription=delivery.subscription,
        topic=message.topic.name,
        reason=reason,
        attempts=attempts,
        last_error=TRACEBACK,
        payload=message.payload,
        attributes=message.attributes,
        replayed_at=replayed_at,
    )
    if created_at is not None:
        DeadLetter.objects.filter(pk=created.pk).update(created_at=created_at)
        created.refresh_from_db()
    return created


def unroutable_dead_letter(topic: Topic, **message_fields: Any) -> DeadLetter:
    """Make a message of `topic` that no subscription took, kept as a dead letter."""
    message = MessageFactory.create(topic=topic, **message_fields)
    return DeadLetter.objects.create(
        message=message,
        topic=topic.name,
        reason=DeadLetterReason.UNROUTABLE,
        attempts=0,
        payload=message.payload,
        attributes=message.attributes,
    )
