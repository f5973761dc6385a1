"""Publish messages: the one entry point the API, the admin and Python code share."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.delivery import sending as delivery_sending
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors
from apps.topology.models import Topic

MAX_KEY_LENGTH = 200
MAX_ATTRIBUTES = 50
MAX_BATCH_MESSAGES = 500


class PublishError(Exception):
    """A message that cannot be published; nothing was written."""


class UnknownTopic(PublishError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"There is no topic named {topic!r}.")
        self.topic = topic


class InvalidMessage(PublishError):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(PublishError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"The payload is {size} bytes of JSON; at most {limit} are accepted.")
        self.size, self.limit = size, limit


def publish(
    *,
    topic: str,
    payload: Any,
    attributes: Mapping[str, str] | None = None,
    key: str | None = None,
) -> Message:
    """Validate and store a message and one delivery per matching subscription of its topic.

    Inside a caller's `transaction.atomic()` the message commits or rolls back with the
    caller's writes; its deliveries go to the broker only after the commit.
    """
    message = _build(_topic(topic), payload=payload, attributes=attributes, key=key)
    with transaction.atomic():
        message.save(force_insert=True)
        delivery_sending.deliveries_create(messages=[message])
    return message


def publish_many(*, topic: str, messages: Sequence[Mapping[str, Any]]) -> list[Message | PublishError]:
    """Publish several messages to one topic in one transaction; return one result per item, in order.

    Each item is a mapping with `payload` and optionally `attributes` and `key`. An
    invalid item becomes its PublishError in the results and does not stop the others.
    """
    topic_obj = _topic(topic)
    if len(messages) > MAX_BATCH_MESSAGES:
        raise InvalidMessage(f"At most {MAX_BATCH_MESSAGES} messages go in one batch.", field="messages")
    results: list[Message | PublishError] = []
    for item in messages:
        try:
            unknown = set(item) - {"payload", "attributes", "key"}
            if "payload" not in item or unknown:
                raise InvalidMessage("Each message needs a payload, and only attributes and key beside it.", field="")
            results.append(
                _build(topic_obj, payload=item["payload"], attributes=item.get("attributes"), key=item.get("key"))
            )
        except PublishError as exc:
            results.append(exc)
    accepted = [result for result in results if isinstance(result, Message)]
    with transaction.atomic():
        Message.objects.bulk_create(accepted)
        delivery_sending.deliveries_create(messages=accepted)
    return results


def _build(topic: Topic, *, payload: Any, attributes: Mapping[str, str] | None, key: str | None) -> Message:
    _check_payload(payload)
    _check_key(key)
    return Message(
        topic=topic, payload=payload, attributes=_validated_attributes(attributes), key=key or "", published_at=_now()
    )


def _now() -> datetime:
    return timezone.now()


def _topic(name: str) -> Topic:
    topic = topology_selectors.topic_get(name=name) if isinstance(name, str) else None
    if topic is None:
        raise UnknownTopic(str(name))
    return topic


def _validated_attributes(attributes: Mapping[str, str] | None) -> dict[str, str]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise InvalidMessage("Attributes must be an object of string values.", field="attributes")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidMessage(f"At most {MAX_ATTRIBUTES} attributes are accepted.", field="attributes")
    for name, value in attributes.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidMessage(
                f"Attribute {name!r} must be a non-empty name with a string value.", field="attributes"
            )
    return dict(attributes)


def _check_payload(payload: Any) -> None:
    if payload is None:
        raise InvalidMessage("The payload must not be null.", field="payload")
    try:
        # orjson refuses non-string object keys (which json.dumps would silently turn into
        # strings); json.dumps, as the database stores it, refuses NaN, Infinity, dates.
        orjson.dumps(payload)
        size = len(json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"The payload is not JSON: {exc}", field="payload") from exc
    limit = settings.SWITCHBOARD_MAX_PAYLOAD_BYTES
    if size > limit:
        raise PayloadTooLarge(size, limit)


def _check_key(key: str | None) -> None:
    if key is not None and (not isinstance(key, str) or len(key) > MAX_KEY_LENGTH):
        raise InvalidMessage(f"The key must be a string of at most {MAX_KEY_LENGTH} characters.", field="key")
