"""Samples: one per subscription and their sum each tick, latency of the interval, bounded retention."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.monitoring import alerting, figures, snapshots
from apps.monitoring.alert_rules import alerts_parse
from apps.monitoring.models import SubscriptionSample
from apps.monitoring.readings import SubscriptionReading

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def reading(name: str, buckets: list[int], **fields: Any) -> SubscriptionReading:
    return SubscriptionReading(name=name, topic="orders.created", latency_buckets=buckets, **fields)


def test_a_tick_stores_each_subscription_and_their_sum() -> None:
    readings = [
        reading("a", [1] * 16, depth={"ready": 3, "outbox": 1}, delivered=10, dead=1, published=12, consumers=2),
        reading("b", [0] + [2] * 15, depth={"ready": 4}, delivered=5, retried=2, published=12, oldest_age=9.5),
    ]

    assert snapshots.samples_store(readings=readings, now=T0) == 3

    rows = {s.subscription: s for s in SubscriptionSample.objects.all()}
    total = rows["*"]
    assert (total.ready, total.outbox, total.delivered, total.retried, total.dead) == (7, 1, 15, 2, 1)
    assert (total.published, total.consumers, total.oldest_age) == (12, 2, 9.5)  # one topic, counted once
    assert total.latency_buckets == [1] + [3] * 15
    assert (rows["a"].ready, rows["a"].consumers, rows["b"].oldest_age) == (3, 2, 9.5)


def test_latency_quantiles_cover_only_the_deliveries_since_the_previous_sample() -> None:
    snapshots.samples_store(readings=[reading("a", [100] * 16)], now=T0)
    # Since then: 10 deliveries, all between 50 and 100 ms (telemetry.LATENCY_BUCKETS).
    snapshots.samples_store(readings=[reading("a", [100] * 4 + [110] * 12)], now=T0 + timedelta(seconds=5))

    newest = SubscriptionSample.objects.get(subscription="a", taken_at=T0 + timedelta(seconds=5))
    assert newest.latency_p50 == pytest.approx(0.075)
    assert newest.latency_p99 == pytest.approx(0.0995)
    first = SubscriptionSample.objects.get(subscription="a", taken_at=T0)
    assert first.latency_p50 == pytest.approx(0.0025)  # everything so far, under 5 ms


def test_samples_older_than_the_retention_are_deleted(settings: Any) -> None:
    settings.SWITCHBOARD_SAMPLE_RETENTION_SECONDS = 60
    for second in (0, 30, 61, 90):
        snapshots.samples_store(readings=[reading("a", [0] * 16)], now=T0 + timedelta(seconds=second))
    kept = sorted({s.taken_at for s in SubscriptionSample.objects.all()})
    assert kept == [T0 + timedelta(seconds=s) for s in (30, 61, 90)]


def test_firing_rules_reach_the_alerts_firing_figure() -> None:
    rule = "{name: deep, kind: queue_depth, subscriptions: '*', above: 1, severity: critical, notifiers: []}"
    alerting.alerts_sync(spec=alerts_parse(f"rules:\n  - {rule}\n"))
    alerting.alerts_evaluate(
        figures=[reading("a", [], depth={"ready": 5}), reading("b", [], depth={"ready": 9})], now=T0
    )

    assert figures.alerts_firing() == [figures.AlertFiring(rule="deep", severity="critical")]
