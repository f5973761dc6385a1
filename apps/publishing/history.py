"""The message history: messages filtered and paged newest first, with a cursor (keyset paging).

A page is ordered by (published_at, id), newest first, and the cursor names the last
message of the page, so the next page starts right after it however many messages
arrive meanwhile, and costs the same at any depth: the query seeks in the index on
(published_at, id) — or (topic, published_at), (key, published_at) — instead of
counting rows to skip. A page reads its messages and their deliveries in two queries.
"""

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from apps.accounts.topics import ALL_TOPICS, TopicAccess
from apps.core.errors import SwitchboardError
from apps.delivery.models import Delivery
from apps.publishing.filters import FILTER_NAMES, MessageFilterSet
from apps.publishing.models import Message

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class InvalidMessageFilterError(SwitchboardError, ValueError):
    """A filter, cursor or limit of the message history is unknown or malformed; `errors` names each."""

    status = 400
    code = "invalid"
    title = "Invalid input"


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    next_cursor: str | None


def cursor_encode(message: Message) -> str:
    text = f"{message.published_at.isoformat()}|{message.pk}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        published, _, message_id = text.partition("|")
        published_at = datetime.fromisoformat(published)
        if published_at.tzinfo is None:
            raise ValueError("a cursor's time has its offset")
        return published_at.astimezone(UTC), uuid.UUID(message_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidMessageFilterError(errors={"cursor": ["Not a cursor this API gave out."]}) from exc


def _attribute_filters(values: list[str]) -> dict[str, str]:
    attributes = {}
    for value in values:
        name, equals, wanted = value.partition("=")
        if not equals or not name:
            raise InvalidMessageFilterError(errors={"attribute": [f"Give name=value, not {value!r}."]})
        attributes[name] = wanted
    return attributes


def messages_filter(
    *, filters: Mapping[str, Any], attributes: Mapping[str, str] | None = None, topics: TopicAccess = ALL_TOPICS
) -> QuerySet[Message]:
    """Return the messages matching every filter, newest first; raise InvalidMessageFilterError naming each bad one.

    Only messages of `topics` are found; a topic or subscription outside them is unknown.
    """
    unknown = {
        name: [f"Unknown filter; the filters are {', '.join(FILTER_NAMES)}."]
        for name in filters
        if name not in FILTER_NAMES
    }
    if unknown:
        raise InvalidMessageFilterError(errors=unknown)
    queryset = topics.filter(Message.objects.order_by("-published_at", "-id"), "topic__name")
    filterset = MessageFilterSet(data=dict(filters), queryset=queryset)
    if not filterset.is_valid():
        errors = {name: [str(m) for m in messages] for name, messages in filterset.errors.items()}
        raise InvalidMessageFilterError(errors=errors)
    topic, subscription = filterset.form.cleaned_data.get("topic"), filterset.form.cleaned_data.get("subscription")
    hidden: dict[str, list[str]] = {}
    if topic is not None and not topics.allows(topic.name):
        hidden["topic"] = [f"There is no topic named {topic.name}."]
    if subscription is not None and not topics.allows(subscription.topic.name):
        hidden["subscription"] = [f"There is no subscription named {subscription.name}."]
    if hidden:
        raise InvalidMessageFilterError(errors=hidden)
    queryset = filterset.qs
    for name, value in (attributes or {}).items():
        # A transform, not `attributes__<name>`, so that no name can spell a lookup.
        queryset = queryset.filter(Exact(KeyTextTransform(name, "attributes"), value))
    return queryset


def messages_page(
    *,
    filters: Mapping[str, Any],
    attribute: list[str] | None = None,
    cursor: str | None = None,
    limit: int,
    topics: TopicAccess = ALL_TOPICS,
) -> MessagePage:
    """Return one page of the history: up to `limit` messages after `cursor`, with their deliveries."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidMessageFilterError(errors={"limit": [f"Must be a whole number from 1 to {MAX_LIMIT}."]})
    queryset = messages_filter(filters=filters, attributes=_attribute_filters(attribute or []), topics=topics)
    if cursor:
        published_at, message_id = _cursor_decode(cursor)
        # The redundant `published_at <= ...` lets the database seek in the index.
        queryset = queryset.filter(published_at__lte=published_at).filter(
            Q(published_at__lt=published_at) | Q(id__lt=message_id)
        )
    deliveries = Delivery.objects.select_related("subscription").order_by("subscription__name")
    rows = list(
        queryset.select_related("topic").prefetch_related(Prefetch("deliveries", queryset=deliveries))[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return MessagePage(messages=rows, next_cursor=cursor_encode(rows[-1]) if more and rows else None)
