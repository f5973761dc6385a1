"""What the dashboard shows, read from the stored samples: chart series and the live table.

Charts read one subscription's samples (or `*`, all summed) in time order and turn the
running totals into rates per second between neighbouring samples. The table reads only
the newest samples (one row per subscription at a handful of timestamps), so its cost
is a few queries whatever the number of subscriptions.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.monitoring import alert_selectors, snapshots
from apps.monitoring.models import ALL_SUBSCRIPTIONS, SubscriptionSample
from apps.topology.models import Subscription

_SERIES_FIELDS = (
    "taken_at",
    "published",
    "delivered",
    "retried",
    "dead",
    "ready",
    "scheduled",
    "in_flight",
    "outbox",
    "oldest_age",
    "latency_p50",
    "latency_p99",
    "consumers",
    "dead_letters",
)
# The table's rates and latency quantiles are taken over the newest samples this many
# intervals apart.
TABLE_RATE_SAMPLES = 6


def sample_series(*, subscription: str, since: datetime) -> dict[str, list[Any]]:
    """Columns of one subscription's samples after `since`: gauges as stored, totals as rates per second."""
    samples = SubscriptionSample.objects.filter(subscription=subscription).order_by("taken_at")
    before = samples.filter(taken_at__lte=since).order_by("-taken_at").values_list(*_SERIES_FIELDS).first()
    rows = list(samples.filter(taken_at__gt=since).values_list(*_SERIES_FIELDS))
    columns: dict[str, list[Any]] = defaultdict(list)
    previous = before
    for row in rows:
        sample = dict(zip(_SERIES_FIELDS, row, strict=True))
        columns["t"].append(sample["taken_at"].timestamp())
        for name in ("ready", "scheduled", "in_flight", "outbox", "oldest_age", "consumers", "dead_letters"):
            columns[name].append(sample[name])
        for name in ("latency_p50", "latency_p99"):
            value = sample[name]
            columns[f"{name}_ms"].append(None if value is None else round(value * 1000, 1))
        rates = _rates(dict(zip(_SERIES_FIELDS, previous, strict=True)) if previous else None, sample)
        for name, value in rates.items():
            columns[name].append(value)
        previous = row
    return dict(columns)


def _rates(previous: dict[str, Any] | None, sample: dict[str, Any]) -> dict[str, float | None]:
    names = ("published", "delivered", "retried", "dead")
    if previous is None:
        unknown: dict[str, float | None] = {f"{name}_rate": None for name in names}
        return unknown | {"error_rate": None}
    seconds = max((sample["taken_at"] - previous["taken_at"]).total_seconds(), 1e-6)
    grown = {name: max(0, sample[name] - previous[name]) for name in names}
    outcomes = grown["delivered"] + grown["retried"] + grown["dead"]
    rates: dict[str, float | None] = {f"{name}_rate": round(grown[name] / seconds, 2) for name in names}
    rates["error_rate"] = round((grown["retried"] + grown["dead"]) / outcomes, 4) if outcomes else 0.0
    return rates


@dataclass(frozen=True)
class TableRow:
    subscription: str
    subscription_id: int | None
    topic: str
    paused: bool
    consumers: int
    ready: int
    scheduled: int
    in_flight: int
    outbox: int
    oldest_age: float
    delivered: int
    delivered_rate: float
    error_rate: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    dead_letters: int
    alerts: list[str]


def live_table(*, subscription: str | None = None) -> dict[str, Any]:
    """The newest figures of every subscription (or one), each topic's publish rate, the firing alerts."""
    stamps = list(
        SubscriptionSample.objects.filter(subscription=ALL_SUBSCRIPTIONS)
        .order_by("-taken_at")
        .values_list("taken_at", flat=True)[:TABLE_RATE_SAMPLES]
    )
    firing = alert_selectors.alerts_firing(subscription=subscription)
    result: dict[str, Any] = {
        "taken_at": stamps[0].isoformat() if stamps else None,
        "subscriptions": [],
        "topics": [],
        "alerts": [
            {"rule": a.rule, "severity": a.severity, "subscription": a.subscription, "value": a.value} for a in firing
        ],
    }
    if not stamps:
        return result
    newest, oldest = stamps[0], stamps[-1]
    samples = SubscriptionSample.objects.filter(taken_at__in=[newest, oldest])
    if subscription is not None:
        samples = samples.filter(subscription=subscription)
    by_time: dict[datetime, dict[str, SubscriptionSample]] = defaultdict(dict)
    for sample in samples:
        by_time[sample.taken_at][sample.subscription] = sample
    known = {s.name: (s.pk, s.topic.name) for s in Subscription.objects.select_related("topic").only("name", "topic")}
    alerts_of: dict[str, list[str]] = defaultdict(list)
    for alert in firing:
        alerts_of[alert.subscription].append(alert.rule)
    topics: dict[str, tuple[float, int]] = {}
    for name, now in sorted(by_time[newest].items()):
        if name == ALL_SUBSCRIPTIONS:
            continue
        before = by_time[oldest].get(name, now)
        rates = _rates({"taken_at": oldest, **_totals(before)}, {"taken_at": newest, **_totals(now)})
        if newest == oldest:
            rates = {key: 0.0 for key in rates}
        subscription_id, topic = known.get(name, (None, ""))
        p50, p99 = snapshots.latency_quantiles(
            now.latency_buckets, before.latency_buckets if before is not now else None
        )
        topics[topic] = (rates["published_rate"] or 0.0, now.published)
        result["subscriptions"].append(
            TableRow(
                subscription=name,
                subscription_id=subscription_id,
                topic=topic,
                paused=now.paused,
                consumers=now.consumers,
                ready=now.ready,
                scheduled=now.scheduled,
                in_flight=now.in_flight,
                outbox=now.outbox,
                oldest_age=round(now.oldest_age, 1),
                delivered=now.delivered,
                delivered_rate=rates["delivered_rate"] or 0.0,
                error_rate=rates["error_rate"] or 0.0,
                latency_p50_ms=_ms(p50),
                latency_p99_ms=_ms(p99),
                dead_letters=now.dead_letters,
                alerts=alerts_of.get(name, []),
            ).__dict__
        )
    result["topics"] = [
        {"topic": name, "published_rate": rate, "published": total}
        for name, (rate, total) in sorted(topics.items())
        if name
    ]
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _totals(sample: SubscriptionSample) -> dict[str, int]:
    return {name: getattr(sample, name) for name in ("published", "delivered", "retried", "dead")}
