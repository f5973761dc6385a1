"""What alert rules and the dashboard's samples read: each subscription now, and over a window.

`SubscriptionReading` is one subscription at one moment, taken from the figures that
/metrics shows (apps.monitoring.figures), so an alert, a chart and a scrape agree. The
windowed reads (`dead_letters_since`, `failures_since`) look back through the ledger's
dead letters and the stored samples (apps.monitoring.snapshots).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Min

from apps.deadletters.models import DeadLetter
from apps.monitoring import figures as figures_module
from apps.monitoring.models import SubscriptionSample


@dataclass(frozen=True)
class SubscriptionReading:
    name: str
    topic: str = ""
    paused: bool = False
    depth: dict[str, int] = field(default_factory=dict)  # ready, scheduled, in_flight, outbox
    oldest_age: float = 0.0  # seconds, of the oldest open delivery that is due
    dead_letters: int = 0  # not replayed
    consumers: int | None = None  # None: not known
    published: int = 0  # to the subscription's topic, since counting began
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    # The delivery latency histogram's cumulative counts per bucket (telemetry.LATENCY_BUCKETS).
    latency_buckets: list[int] = field(default_factory=list)


def readings_now() -> tuple[datetime, list[SubscriptionReading]]:
    """Read every subscription's figures now (one pass over Redis and the database)."""
    figures = figures_module.figures_read()
    published = {topic.name: topic.published for topic in figures.topics}
    return figures.taken_at, [
        SubscriptionReading(
            name=s.name,
            topic=s.topic,
            paused=s.paused,
            depth=dict(s.depth),
            oldest_age=s.oldest_open_age_seconds,
            dead_letters=sum(s.dead_letters.values()),
            consumers=s.consumers,
            published=published.get(s.topic, 0),
            delivered=s.deliveries.get("delivered", 0),
            retried=s.deliveries.get("retried", 0),
            dead=s.deliveries.get("dead", 0),
            latency_buckets=list(s.latency.cumulative),
        )
        for s in figures.subscriptions
    ]


def dead_letters_since(*, since: datetime) -> dict[str, int]:
    """Count the dead letters each subscription gained since `since` (one grouped query)."""
    rows = (
        DeadLetter.objects.filter(created_at__gte=since, subscription__isnull=False)
        .values_list("subscription__name")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {name: n for name, n in rows}


def failures_since(*, since: datetime) -> dict[str, tuple[int, int]]:
    """Return each subscription's (failed, all) outcomes since `since`, from the stored samples.

    Failed are retries and dead letters; all adds the deliveries. The difference is taken
    between the newest samples and the last ones at or before `since` (or the oldest
    kept): every subscription is sampled at the same moments, so two queries read it all.
    """
    samples = SubscriptionSample.objects.all()
    newest = samples.aggregate(at=Max("taken_at"))["at"]
    if newest is None:
        return {}
    older = samples.filter(taken_at__lte=since).aggregate(at=Max("taken_at"))["at"]
    older = older or samples.aggregate(at=Min("taken_at"))["at"]
    rows = samples.filter(taken_at__in=[newest, older]).values_list(
        "taken_at", "subscription", "delivered", "retried", "dead"
    )
    at: dict[datetime, dict[str, tuple[int, int, int]]] = {newest: {}, older: {}}
    for taken_at, name, delivered, retried, dead in rows:
        at[taken_at][name] = (delivered, retried, dead)
    result = {}
    for name, (delivered, retried, dead) in at[newest].items():
        was_delivered, was_retried, was_dead = at[older].get(name, (0, 0, 0))
        failed = (retried - was_retried) + (dead - was_dead)
        result[name] = (failed, failed + delivered - was_delivered)
    return result
