"""What alert rules and the dashboard's samples read: each subscription now, and over a window.

`SubscriptionReading` is one subscription at one moment, taken from the figures that
/metrics shows (apps.monitoring.figures), so an alert, a chart and a scrape agree. The
windowed reads (`dead_letters_since`, `failures_since`) look back through the ledger's
dead letters and the stored samples (apps.monitoring.snapshots).
"""

from dataclasses import dataclass, field
from datetime import datetime

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
