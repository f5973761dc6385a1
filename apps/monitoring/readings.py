"""What alert rules and the dashboard read: each subscription's figures now, and over a window.

`SubscriptionFigures` is one subscription at one moment: its depth by state, the age of
its oldest open delivery, its dead letters, consumers, pause state and running totals.
`figures_now()` reads them; the windowed reads (`dead_letters_since`, `failures_since`)
look back through the ledger's rows and the stored samples (apps.monitoring.snapshots).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.db.models import Count, Min, Q
from django.utils import timezone

from apps.deadletters.models import DeadLetter
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.monitoring.models import SubscriptionSample
from apps.topology import selectors as topology_selectors
from apps.topology.models import Subscription


@dataclass(frozen=True)
class SubscriptionFigures:
    name: str
    topic: str = ""
    paused: bool = False
    depth: dict[str, int] = field(default_factory=dict)  # ready, scheduled, in_flight, outbox
    oldest_age: float = 0.0
    dead_letters: int = 0  # not replayed
    consumers: int | None = None  # None: not known (no worker answered)
    published: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def figures_now(*, now: datetime | None = None) -> list[SubscriptionFigures]:
    """Read every subscription's figures: the queue from Redis, the rest from the ledger's rows."""
    now = now or timezone.now()
    subscriptions = list(Subscription.objects.select_related("topic").order_by("name"))
    try:
        ready = topology_selectors.queue_depths(queues=[s.queue for s in subscriptions])
    except redis.RedisError:
        ready = {}
    states: dict[int, dict[str, int]] = defaultdict(dict)
    for row in Delivery.objects.values("subscription_id", "state").annotate(n=Count("id")).order_by():
        states[row["subscription_id"]][row["state"]] = row["n"]
    open_rows = (
        Delivery.objects.filter(state__in=OPEN_STATES)
        .values("subscription_id")
        .annotate(
            oldest=Min("created_at"),
            outbox=Count("id", filter=Q(sent_at__isnull=True)),
            scheduled=Count("id", filter=Q(state=DeliveryState.RETRYING) | Q(not_before__gt=now)),
        )
        .order_by()
    )
    open_by = {row["subscription_id"]: row for row in open_rows}
    dead_letters = dict(
        DeadLetter.objects.filter(replayed_at__isnull=True, subscription__isnull=False)
        .values_list("subscription_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    figures = []
    for subscription in subscriptions:
        by_state = states.get(subscription.pk, {})
        open_row = open_by.get(subscription.pk, {})
        oldest = open_row.get("oldest")
        figures.append(
            SubscriptionFigures(
                name=subscription.name,
                topic=subscription.topic.name,
                paused=subscription.paused,
                depth={
                    "ready": ready.get(subscription.queue, 0),
                    "scheduled": open_row.get("scheduled", 0),
                    "in_flight": 0,
                    "outbox": open_row.get("outbox", 0),
                },
                oldest_age=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
                dead_letters=dead_letters.get(subscription.pk, 0),
                published=sum(by_state.values()),
                delivered=by_state.get(DeliveryState.DELIVERED, 0),
                dead=by_state.get(DeliveryState.DEAD, 0),
            )
        )
    return figures


def dead_letters_since(*, subscription: str, since: datetime) -> int:
    """Count the dead letters a subscription gained since `since`."""
    return DeadLetter.objects.filter(subscription__name=subscription, created_at__gte=since).count()


def failures_since(*, subscription: str, since: datetime) -> tuple[int, int]:
    """Return (failed, all) outcomes of a subscription's attempts since `since`, from the stored samples.

    Failed are retries and dead letters; all adds the deliveries. The difference is taken
    between the newest sample and the last one at or before `since` (or the oldest kept).
    """
    samples = SubscriptionSample.objects.filter(subscription=subscription).only("delivered", "retried", "dead")
    newest = samples.order_by("-taken_at").first()
    oldest = samples.filter(taken_at__lte=since).order_by("-taken_at").first() or samples.order_by("taken_at").first()
    if newest is None or oldest is None:
        return 0, 0
    failed = (newest.retried - oldest.retried) + (newest.dead - oldest.dead)
    return failed, failed + (newest.delivered - oldest.delivered)
