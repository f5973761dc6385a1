"""Read messages and how their deliveries are going."""

import uuid

from apps.accounts.topics import ALL_TOPICS, TopicAccess
from apps.core.errors import SwitchboardError
from apps.publishing.models import Message


class UnknownMessageError(SwitchboardError):
    """No message has this id (raised by callers for which `message_get` finding none is an error)."""

    status = 404
    code = "unknown-message"
    title = "Unknown message"

    def __init__(self, message_id: uuid.UUID) -> None:
        super().__init__(f"There is no message {message_id}.")


def message_get(*, message_id: uuid.UUID, topics: TopicAccess = ALL_TOPICS) -> Message | None:
    """Return the message, if its topic is among `topics`, with its topic, deliveries, subscriptions and attempts."""
    return (
        topics.filter(Message.objects.select_related("topic"), "topic__name")
        .prefetch_related("deliveries__subscription", "deliveries__attempt_log")
        .filter(pk=message_id)
        .first()
    )
