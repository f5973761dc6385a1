"""Create dead letters."""

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery
from apps.publishing.models import Message


def dead_letter_for_delivery(*, delivery: Delivery, reason: DeadLetterReason, attempts: int, error: str) -> DeadLetter:
    """Record that `delivery` will not be retried."""
    message = delivery.message
    return DeadLetter.objects.create(
        message=message,
        delivery=delivery,
        subscription=delivery.subscription,
        topic=message.topic.name,
        reason=reason,
        attempts=attempts,
        last_error=error,
        payload=message.payload,
        attributes=message.attributes,
    )


def dead_letters_unroutable(*, messages: list[Message]) -> list[DeadLetter]:
    """Keep messages that no subscription matched."""
    return DeadLetter.objects.bulk_create(
        DeadLetter(
            message=message,
            topic=message.topic.name,
            reason=DeadLetterReason.UNROUTABLE,
            payload=message.payload,
            attributes=message.attributes,
        )
        for message in messages
    )
