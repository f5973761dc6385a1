"""Read messages and how their deliveries are going."""

import uuid

from apps.publishing.models import Message


def message_get(*, message_id: uuid.UUID) -> Message | None:
    """Return the message with its topic and deliveries (and their subscriptions) loaded."""
    return (
        Message.objects.select_related("topic")
        .prefetch_related("deliveries__subscription")
        .filter(pk=message_id)
        .first()
    )
