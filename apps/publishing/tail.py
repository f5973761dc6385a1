"""Follow a topic's messages, or a subscription's deliveries, as they happen (`manage.py message tail`).

Each poll reads only what changed after the newest change the last one showed, through
indexes: a topic's new
messages by (topic, published_at, id), the finished deliveries of the messages seen so far
(at most WINDOW of them) or of a subscription by (subscription, finished_at), and a
subscription's retrying deliveries by (subscription, state).
"""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from apps.core.errors import error_summary
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic

WINDOW = 1000


@dataclass(frozen=True)
class TailEvent:
    at: datetime
    event: str  # published, or the delivery's new state
    message_id: str
    subscription: str = ""
    attempts: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "event": self.event,
            "message_id": self.message_id,
            "subscription": self.subscription or None,
            "attempts": self.attempts,
            "detail": self.detail or None,
        }

    def line(self) -> str:
        parts = [self.at.isoformat(timespec="milliseconds"), self.event.ljust(9), self.message_id]
        if self.subscription:
            parts.append(f"{self.subscription} attempts={self.attempts}")
        if self.detail:
            parts.append(self.detail)
        return "  ".join(parts)


def _delivery_event(delivery: Delivery, at: datetime) -> TailEvent:
    return TailEvent(
        at=at,
        event=delivery.state,
        message_id=str(delivery.message_id),
        subscription=delivery.subscription.name,
        attempts=delivery.attempts,
        detail=error_summary(delivery.last_error) or "",
    )


class TopicTail:
    """New messages of a topic, then how each of their deliveries ends."""

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self.since = timezone.now()
        self.last: tuple[datetime, Any] = (self.since, None)
        self.seen: deque[Any] = deque(maxlen=WINDOW)

    def poll(self) -> Iterator[TailEvent]:
        published_at, last_id = self.last
        messages = Message.objects.filter(topic=self.topic, published_at__gte=published_at)
        if last_id is not None:
            messages = messages.filter(Q(published_at__gt=published_at) | Q(id__gt=last_id))
        for message in messages.order_by("published_at", "id")[:WINDOW]:
            self.last = (message.published_at, message.pk)
            self.seen.append(message.pk)
            detail = f"key={message.key}" if message.key else ""
            yield TailEvent(at=message.published_at, event="published", message_id=str(message.pk), detail=detail)
        if self.seen:
            finished = Delivery.objects.filter(message_id__in=list(self.seen), finished_at__gt=self.since)
            for delivery in finished.select_related("subscription").order_by("finished_at"):
                assert delivery.finished_at is not None
                self.since = max(self.since, delivery.finished_at)
                yield _delivery_event(delivery, delivery.finished_at)


class SubscriptionTail:
    """How each delivery of a subscription ends, and each retry it is scheduled for."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.since = timezone.now()
        self.retried_since = self.since

    def poll(self) -> Iterator[TailEvent]:
        deliveries = Delivery.objects.filter(subscription=self.subscription).select_related("subscription")
        finished = list(deliveries.filter(finished_at__gt=self.since))
        retried = list(deliveries.filter(state=DeliveryState.RETRYING, updated_at__gt=self.retried_since))
        self.since = max([self.since, *(d.finished_at for d in finished if d.finished_at is not None)])
        self.retried_since = max([self.retried_since, *(d.updated_at for d in retried)])
        for delivery in sorted(finished + retried, key=lambda d: d.finished_at or d.updated_at):
            yield _delivery_event(delivery, delivery.finished_at or delivery.updated_at)
