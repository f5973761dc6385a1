"""Samples of every subscription's figures, kept for a bounded time: what the dashboard charts.

Beat stores one sample per subscription, and one summing them all (`*`), every
SWITCHBOARD_MONITORING_INTERVAL seconds, and deletes those older than
SWITCHBOARD_SAMPLE_RETENTION_SECONDS; so charts survive a reload and a restart of the web
process, and the table stays bounded (200 subscriptions every 5 s for 2 h: ~290,000 rows).
A sample's latency quantiles cover the deliveries that started since the previous sample
(the difference of the two histograms).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from apps.core import telemetry
from apps.monitoring.figures import Histogram
from apps.monitoring.models import ALL_SUBSCRIPTIONS, SubscriptionSample
from apps.monitoring.readings import SubscriptionReading

_SUMMED = ("delivered", "retried", "dead", "dead_letters")
_DEPTHS = ("ready", "scheduled", "in_flight", "outbox")


def samples_store(*, readings: list[SubscriptionReading], now: datetime) -> int:
    """Store one sample per subscription and their sum; delete samples past the retention."""
    previous = _previous_buckets()
    rows = [_sample(r, now, previous.get(r.name)) for r in readings]
    total = SubscriptionSample(taken_at=now, subscription=ALL_SUBSCRIPTIONS)
    for row in rows:
        for name in (*_SUMMED, *_DEPTHS):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.consumers += row.consumers
        total.oldest_age = max(total.oldest_age, row.oldest_age)
    total.published = sum({r.topic: r.published for r in readings}.values())
    summed = [sum(column) for column in zip(*(r.latency_buckets for r in readings), strict=True)]
    total.latency_buckets = summed
    total.latency_p50, total.latency_p99 = latency_quantiles(summed, previous.get(ALL_SUBSCRIPTIONS))
    SubscriptionSample.objects.bulk_create([*rows, total], batch_size=500)
    cutoff = now - timedelta(seconds=settings.SWITCHBOARD_SAMPLE_RETENTION_SECONDS)
    SubscriptionSample.objects.filter(taken_at__lt=cutoff).delete()
    return len(rows) + 1


def _previous_buckets() -> dict[str, list[int]]:
    """The latency buckets of the newest sample of each subscription."""
    newest = SubscriptionSample.objects.aggregate(at=Max("taken_at"))["at"]
    if newest is None:
        return {}
    return dict(SubscriptionSample.objects.filter(taken_at=newest).values_list("subscription", "latency_buckets"))


def _sample(reading: SubscriptionReading, now: datetime, previous: list[int] | None) -> SubscriptionSample:
    p50, p99 = latency_quantiles(reading.latency_buckets, previous)
    return SubscriptionSample(
        taken_at=now,
        subscription=reading.name,
        paused=reading.paused,
        oldest_age=reading.oldest_age,
        consumers=reading.consumers or 0,
        published=reading.published,
        latency_buckets=reading.latency_buckets,
        latency_p50=p50,
        latency_p99=p99,
        **{name: reading.depth.get(name, 0) for name in _DEPTHS},
        **{name: getattr(reading, name) for name in _SUMMED},
    )


def latency_quantiles(newer: list[int], older: list[int] | None) -> tuple[float | None, float | None]:
    """p50 and p99 (seconds) of the deliveries that started between two samples' latency buckets."""
    return _quantiles(list(telemetry.LATENCY_BUCKETS), newer, older)


def _quantiles(
    bounds: list[float], buckets: list[int], previous: list[int] | None
) -> tuple[float | None, float | None]:
    """p50 and p99 of the observations between `previous` and `buckets` (None without any)."""
    if not buckets:
        return None, None
    if previous is None or len(previous) != len(buckets):
        previous = [0] * len(buckets)
    delta = tuple(max(0, now - before) for now, before in zip(buckets, previous, strict=True))
    histogram = Histogram(bounds=tuple(bounds), cumulative=delta, sum=0.0)
    return histogram.quantile(0.5), histogram.quantile(0.99)
