"""Publish messages: the one entry point the API, the admin and Python code share."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core import telemetry
from apps.core.json_input import UnacceptableJsonError, json_value_check, text_check
from apps.core.sql import rows_insert
from apps.delivery import routing
from apps.publishing import idempotency
from apps.publishing.errors import InvalidMessageError, PayloadTooLargeError, PublishError, UnknownTopicError
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors
from apps.topology.models import Topic

MAX_KEY_LENGTH = 200
MAX_ATTRIBUTES = 50
MAX_BATCH_MESSAGES = 500


@dataclass(frozen=True)
class Timing:
    """When a message may be delivered: not before `deliver_at`, not after `expires_at`."""

    deliver_at: datetime | None = None
    expires_at: datetime | None = None


def publish(
    *,
    topic: str,
    payload: Any,
    attributes: Mapping[str, str] | None = None,
    key: str | None = None,
    delay_seconds: float | None = None,
    deliver_at: datetime | None = None,
    ttl_seconds: float | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Validate and store a message and one delivery per matching subscription of its topic.

    Inside a caller's `transaction.atomic()` the message commits or rolls back with the
    caller's writes; its deliveries go to the broker only after the commit. With
    `idempotency_key`, a repeat of the same publish returns the first message and
    publishes nothing new (see `publish_idempotent` and `apps.publishing.idempotency`).
    """
    if idempotency_key is not None:
        fields = {
            "topic": topic, "payload": payload, "attributes": attributes, "key": key,
            "delay_seconds": delay_seconds, "deliver_at": deliver_at, "ttl_seconds": ttl_seconds,
        }  # fmt: skip
        receipt = publish_idempotent(scope=idempotency.PYTHON_SCOPE, key=idempotency_key, fields=fields)
        return Message.objects.get(pk=receipt.body["id"])
    now = _now()
    timing = _timing(now, delay_seconds=delay_seconds, deliver_at=deliver_at, ttl_seconds=ttl_seconds)
    message = _build(_topic(topic), payload=payload, attributes=attributes, key=key, now=now, timing=timing)
    with transaction.atomic():
        _messages_insert([message])
        routing.deliveries_create(messages=[message])
        telemetry.count_on_commit(telemetry.published_field(message.topic.name))
    return message


def publish_idempotent(*, scope: str, key: str, fields: dict[str, Any]) -> idempotency.Receipt:
    """Publish `fields` (publish()'s arguments) once per (scope, key); repeats get the first receipt.

    The key is claimed (committed at once) before the publish, and its receipt is stored
    with the message in one transaction; a publish that fails frees the key again.
    """
    return idempotency.idempotently(
        scope=scope, key=key, fields=fields, run=lambda: idempotency.message_receipt(publish(**fields))
    )


def publish_many(*, topic: str, messages: Sequence[Mapping[str, Any]]) -> list[Message | PublishError]:
    """Publish several messages to one topic in one transaction; return one result per item, in order.

    Each item is a mapping with `payload` and optionally `attributes`, `key`,
    `delay_seconds`, `deliver_at` and `ttl_seconds`. An invalid item becomes its
    PublishError in the results and does not stop the others.
    """
    topic_obj = _topic(topic)
    if len(messages) > MAX_BATCH_MESSAGES:
        raise InvalidMessageError(f"At most {MAX_BATCH_MESSAGES} messages go in one batch.", field="messages")
    now = _now()
    results: list[Message | PublishError] = []
    for item in messages:
        try:
            unknown = set(item) - MESSAGE_FIELDS
            if "payload" not in item or unknown:
                raise InvalidMessageError(
                    f"Each message needs a payload; its other fields may be {', '.join(sorted(MESSAGE_FIELDS))}.",
                    field="",
                )
            timing = _timing(
                now,
                delay_seconds=item.get("delay_seconds"),
                deliver_at=item.get("deliver_at"),
                ttl_seconds=item.get("ttl_seconds"),
            )
            results.append(
                _build(
                    topic_obj,
                    payload=item["payload"],
                    attributes=item.get("attributes"),
                    key=item.get("key"),
                    now=now,
                    timing=timing,
                )
            )
        except PublishError as exc:
            results.append(exc)
    accepted = [result for result in results if isinstance(result, Message)]
    with transaction.atomic():
        _messages_insert(accepted)
        routing.deliveries_create(messages=accepted)
        if accepted:
            telemetry.count_on_commit(telemetry.published_field(topic_obj.name), len(accepted))
    return results


# Message columns, in INSERT order.
_MESSAGE_COLUMNS = ("id", "topic_id", "payload", "attributes", "key", "published_at", "deliver_at", "expires_at")


def _messages_insert(messages: list[Message]) -> None:
    """Insert new messages: `Message.objects.bulk_create` in SQL written once per row count.

    On the publish path Django's preparing every field of every row cost more than the
    INSERT itself. Values still go through each field's own conversion for the database
    (UUID, JSON), and the instances are marked saved, as bulk_create marks them.
    """
    if not messages:
        return
    fields = {field.attname: field for field in Message._meta.concrete_fields}
    id_field, payload_field, attributes_field = fields["id"], fields["payload"], fields["attributes"]
    adapt_datetime = connection.ops.adapt_datetimefield_value
    values = [
        [
            id_field.get_db_prep_value(m.id, connection),
            m.topic_id,
            payload_field.get_db_prep_save(m.payload, connection),
            attributes_field.get_db_prep_save(m.attributes, connection),
            m.key,
            adapt_datetime(m.published_at),
            adapt_datetime(m.deliver_at),
            adapt_datetime(m.expires_at),
        ]
        for m in messages
    ]
    rows_insert(Message._meta.db_table, _MESSAGE_COLUMNS, values)
    for m in messages:
        m._state.adding = False
        m._state.db = connection.alias


MESSAGE_FIELDS = {"payload", "attributes", "key", "delay_seconds", "deliver_at", "ttl_seconds"}
MAX_DELAY_SECONDS = 366 * 24 * 3600
MAX_TTL_SECONDS = 10 * 366 * 24 * 3600


def _timing(
    now: datetime, *, delay_seconds: float | None, deliver_at: datetime | None, ttl_seconds: float | None
) -> Timing:
    if delay_seconds is not None and deliver_at is not None:
        raise InvalidMessageError("Give delay_seconds or deliver_at, not both.", field="delay_seconds")
    if delay_seconds is not None:
        if (
            not isinstance(delay_seconds, int | float)
            or isinstance(delay_seconds, bool)
            or not (0 <= delay_seconds <= MAX_DELAY_SECONDS)
        ):
            raise InvalidMessageError(
                f"delay_seconds must be a number from 0 to {MAX_DELAY_SECONDS}.", field="delay_seconds"
            )
        deliver_at = now + timedelta(seconds=delay_seconds)
    if deliver_at is not None:
        if not isinstance(deliver_at, datetime) or deliver_at.tzinfo is None:
            raise InvalidMessageError("deliver_at must be a date-time with a time zone.", field="deliver_at")
        if deliver_at > now + timedelta(seconds=MAX_DELAY_SECONDS):
            raise InvalidMessageError("deliver_at must be within a year.", field="deliver_at")
    expires_at = None
    if ttl_seconds is not None:
        if (
            not isinstance(ttl_seconds, int | float)
            or isinstance(ttl_seconds, bool)
            or not (0 < ttl_seconds <= MAX_TTL_SECONDS)
        ):
            raise InvalidMessageError(
                f"ttl_seconds must be a positive number of at most {MAX_TTL_SECONDS}.", field="ttl_seconds"
            )
        expires_at = now + timedelta(seconds=ttl_seconds)
    return Timing(deliver_at=deliver_at if deliver_at and deliver_at > now else None, expires_at=expires_at)


def _build(
    topic: Topic,
    *,
    payload: Any,
    attributes: Mapping[str, str] | None,
    key: str | None,
    now: datetime,
    timing: Timing,
) -> Message:
    _check_payload(payload)
    _check_key(key)
    return Message(
        topic=topic,
        payload=payload,
        attributes=_validated_attributes(attributes),
        key=key or "",
        published_at=now,
        deliver_at=timing.deliver_at,
        expires_at=timing.expires_at,
    )


def _now() -> datetime:
    return timezone.now()


def _topic(name: str) -> Topic:
    topic = topology_selectors.topic_cached(name=name) if isinstance(name, str) else None
    if topic is None:
        raise UnknownTopicError(str(name))
    return topic


def _validated_attributes(attributes: Mapping[str, str] | None) -> dict[str, str]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise InvalidMessageError("Attributes must be an object of string values.", field="attributes")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidMessageError(f"At most {MAX_ATTRIBUTES} attributes are accepted.", field="attributes")
    for name, value in attributes.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidMessageError(
                f"Attribute {name!r} must be a non-empty name with a string value.", field="attributes"
            )
        _check_text(name, f"attributes.{name}")
        _check_text(value, f"attributes.{name}")
    return dict(attributes)


def _check_text(value: str, path: str) -> None:
    try:
        text_check(value, path)
    except UnacceptableJsonError as exc:
        raise InvalidMessageError(errors=exc.errors) from exc


def _check_payload(payload: Any) -> None:
    if payload is None:
        raise InvalidMessageError("The payload must not be null.", field="payload")
    try:
        json_value_check(payload, path="payload")
    except UnacceptableJsonError as exc:
        raise InvalidMessageError(errors=exc.errors) from exc
    try:
        # orjson refuses non-string object keys (which json.dumps would silently turn into
        # strings); json.dumps, as the database stores it, refuses NaN, Infinity, dates.
        orjson.dumps(payload)
        size = len(json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidMessageError(f"The payload is not JSON: {exc}", field="payload") from exc
    limit = settings.SWITCHBOARD_MAX_PAYLOAD_BYTES
    if size > limit:
        raise PayloadTooLargeError(size, limit)


def _check_key(key: str | None) -> None:
    if key is not None and (not isinstance(key, str) or len(key) > MAX_KEY_LENGTH):
        raise InvalidMessageError(f"The key must be a string of at most {MAX_KEY_LENGTH} characters.", field="key")
    if key is not None:
        _check_text(key, "key")
