"""How a subscription is doing: its deliveries by state, what waits where, its rates, its consumers.

Counts come from the database (indexed by subscription and state, and by subscription
and finish time); what waits in the subscription's Redis queue and which workers
consume it are asked of Redis and of the workers, and are None when they do not answer.
"""

from dataclasses import dataclass
from datetime import timedelta

import redis
from django.db.models import Count, Min, Q
from django.utils import timezone

from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.topology import selectors, workers
from apps.topology.models import Subscription

RATE_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class SubscriptionStatistics:
    subscription: str
    paused: bool
    # Deliveries by state (every state, zero included).
    deliveries: dict[str, int]
    # Open deliveries not sent to Redis yet (the outbox), and those waiting for a later time.
    outbox: int
    delayed: int
    # Task messages waiting in the subscription's queue (None: Redis did not answer).
    queued: int | None
    oldest_open_age_seconds: float | None
    # Deliveries finished per minute over the last RATE_WINDOW, by outcome.
    rates_per_minute: dict[str, float]
    # Workers consuming the subscription's queue (None: no worker answered the question).
    consumers: int | None


def subscription_statistics(*, subscription: Subscription, ask_workers: bool = True) -> SubscriptionStatistics:
    """Gather the statistics of one subscription (see the module's docstring)."""
    now = timezone.now()
    deliveries = Delivery.objects.filter(subscription=subscription)
    by_state = dict.fromkeys(DeliveryState.values, 0)
    by_state.update(dict(deliveries.values_list("state").annotate(n=Count("id")).order_by()))
    open_deliveries = deliveries.filter(state__in=OPEN_STATES).aggregate(
        outbox=Count("id", filter=Q(sent_at__isnull=True)),
        delayed=Count("id", filter=Q(not_before__gt=now)),
        oldest=Min("created_at"),
    )
    since = now - RATE_WINDOW
    finished = dict(deliveries.filter(finished_at__gte=since).values_list("state").annotate(n=Count("id")).order_by())
    minutes = RATE_WINDOW.total_seconds() / 60
    try:
        queued: int | None = selectors.queue_depths(queues=[subscription.queue])[subscription.queue]
    except redis.RedisError:
        queued = None
    consumers = workers.workers_consuming(queues=[subscription.queue]).get(subscription.queue) if ask_workers else None
    oldest = open_deliveries["oldest"]
    return SubscriptionStatistics(
        subscription=subscription.name,
        paused=subscription.paused,
        deliveries=by_state,
        outbox=open_deliveries["outbox"],
        delayed=open_deliveries["delayed"],
        queued=queued,
        oldest_open_age_seconds=None if oldest is None else round((now - oldest).total_seconds(), 3),
        rates_per_minute={
            state: round(finished.get(state, 0) / minutes, 3) for state in (DeliveryState.DELIVERED, DeliveryState.DEAD)
        },
        consumers=consumers,
    )
