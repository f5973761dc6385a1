"""Why a message cannot be published: raised by publish() and the idempotency keys; nothing was written."""

from collections.abc import Mapping
from typing import Any

from apps.core.errors import SwitchboardError


class PublishError(SwitchboardError):
    """A message that cannot be published; nothing was written."""

    status = 400
    code = "message-not-published"
    title = "Message not published"


class UnknownTopicError(PublishError):
    status = 404
    code = "unknown-topic"
    title = "Unknown topic"

    def __init__(self, topic: str) -> None:
        super().__init__(f"There is no topic named {topic!r}.")
        self.topic = topic


class InvalidMessageError(PublishError):
    """A message's fields are not valid: `field` names the offending one (blank for the whole message).

    Give `errors` instead of a message and a field to report several fields at once.
    """

    status = 400
    code = "invalid-message"
    title = "Invalid message"

    def __init__(self, message: str | None = None, *, field: str = "", errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(*([message] if message else []), errors={field: [message]} if errors is None else errors)
        self.field = field


class PayloadTooLargeError(PublishError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"The payload is {size} bytes of JSON; at most {limit} are accepted.")
        self.size, self.limit = size, limit
