"""Samples of every subscription's figures, kept for a bounded time: what the dashboard charts.

Beat stores one sample per subscription, and one summing them all (`*`), every
SWITCHBOARD_MONITORING_INTERVAL seconds, and deletes those older than
SWITCHBOARD_SAMPLE_RETENTION_SECONDS; so charts survive a reload and a restart of the web
process, and the table stays bounded (200 subscriptions every 5 s for 2 h: ~290,000 rows).
"""

from datetime import datetime, timedelta

from django.conf import settings

from apps.monitoring.models import ALL_SUBSCRIPTIONS, SubscriptionSample
from apps.monitoring.readings import SubscriptionFigures

_SUMMED = ("published", "delivered", "retried", "dead", "dead_letters")
_DEPTHS = ("ready", "scheduled", "in_flight", "outbox")


def samples_store(*, figures: list[SubscriptionFigures], now: datetime) -> int:
    """Store one sample per subscription and their sum; delete samples past the retention."""
    rows = [_sample(f, now) for f in figures]
    total = SubscriptionSample(taken_at=now, subscription=ALL_SUBSCRIPTIONS)
    for row in rows:
        for name in (*_SUMMED, *_DEPTHS):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.consumers += row.consumers
        total.oldest_age = max(total.oldest_age, row.oldest_age)
    SubscriptionSample.objects.bulk_create([*rows, total], batch_size=500)
    cutoff = now - timedelta(seconds=settings.SWITCHBOARD_SAMPLE_RETENTION_SECONDS)
    SubscriptionSample.objects.filter(taken_at__lt=cutoff).delete()
    return len(rows) + 1


def _sample(figures: SubscriptionFigures, now: datetime) -> SubscriptionSample:
    return SubscriptionSample(
        taken_at=now,
        subscription=figures.name,
        paused=figures.paused,
        oldest_age=figures.oldest_age,
        consumers=figures.consumers or 0,
        **{name: figures.depth.get(name, 0) for name in _DEPTHS},
        **{name: getattr(figures, name) for name in _SUMMED},
    )
