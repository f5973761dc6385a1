"""Switchboard's figures in Prometheus's text format: one collector, read at scrape time.

The names and labels are a contract (dashboards and alert rules use them); README
"Monitoring" lists them and tests/monitoring/test_metrics.py pins them.
"""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from apps.monitoring.figures import DEPTH_STATES, Figures, Histogram, figures_read

PREFIX = "switchboard_"


class FiguresCollector(Collector):
    """Render one `figures_read()` as Prometheus metric families."""

    def collect(self) -> Iterator[Metric]:
        return iter(metric_families(figures_read()))


def metric_families(figures: Figures) -> list[Metric]:
    """Every metric family of the figures, in the contract's order."""
    published = CounterMetricFamily(f"{PREFIX}messages_published", "Messages published", labels=["topic"])
    unroutable = CounterMetricFamily(
        f"{PREFIX}unroutable", "Messages no subscription's filter matched", labels=["topic"]
    )
    for topic in figures.topics:
        published.add_metric([topic.name], topic.published)
        unroutable.add_metric([topic.name], topic.unroutable)
    deliveries = CounterMetricFamily(
        f"{PREFIX}deliveries", "Delivery outcomes (retried: an attempt failed and was rescheduled)",
        labels=["subscription", "outcome"],
    )  # fmt: skip
    latency = HistogramMetricFamily(
        f"{PREFIX}delivery_latency_seconds",
        "From publish (or the due time of a delayed or retried delivery) to handler start",
        labels=["subscription"],
    )
    duration = HistogramMetricFamily(
        f"{PREFIX}handler_duration_seconds", "How long handlers ran", labels=["subscription"]
    )
    depth = GaugeMetricFamily(f"{PREFIX}queue_depth", "Deliveries waiting, by state", labels=["subscription", "state"])
    oldest = GaugeMetricFamily(
        f"{PREFIX}oldest_message_age_seconds", "Age of the oldest open, due delivery", labels=["subscription"]
    )
    dead = GaugeMetricFamily(
        f"{PREFIX}dead_letters", "Dead letters not replayed or purged", labels=["subscription", "reason"]
    )
    consumers = GaugeMetricFamily(
        f"{PREFIX}consumers", "Worker nodes consuming the subscription's queue", labels=["subscription"]
    )
    paused = GaugeMetricFamily(f"{PREFIX}subscription_paused", "1 if paused", labels=["subscription"])
    for s in figures.subscriptions:
        for outcome, n in s.deliveries.items():
            deliveries.add_metric([s.name, outcome], n)
        latency.add_metric([s.name], _buckets(s.latency), s.latency.sum)
        duration.add_metric([s.name], _buckets(s.handler_duration), s.handler_duration.sum)
        for state in DEPTH_STATES:
            depth.add_metric([s.name, state], s.depth[state])
        oldest.add_metric([s.name], s.oldest_open_age_seconds)
        for reason, n in s.dead_letters.items():
            dead.add_metric([s.name, reason], n)
        consumers.add_metric([s.name], s.consumers)
        paused.add_metric([s.name], 1 if s.paused else 0)
    # Unroutable messages reached no subscription: one series, with an empty subscription.
    unroutable_dead = sum(topic.unroutable_dead_letters for topic in figures.topics)
    if unroutable_dead:
        dead.add_metric(["", "unroutable"], unroutable_dead)
    alerts = GaugeMetricFamily(f"{PREFIX}alerts_firing", "Alert rules firing", labels=["rule", "severity"])
    for alert in figures.alerts_firing:
        alerts.add_metric([alert.rule, alert.severity], 1)
    return [published, deliveries, unroutable, latency, duration, depth, oldest, dead, consumers, paused, alerts]


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    bounds = [repr(float(bound)) for bound in histogram.bounds] + ["+Inf"]
    return list(zip(bounds, histogram.cumulative, strict=True))


def registry() -> CollectorRegistry:
    """A registry holding only Switchboard's collector (no process metrics of whichever worker answers)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(FiguresCollector())
    return found
