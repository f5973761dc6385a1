"""The monitoring app's periodic work: one tick samples the figures and evaluates the rules."""

from django.utils import timezone

from apps.monitoring import alerting, readings, snapshots


def monitoring_tick() -> int:
    """Read every subscription's figures once, store them as samples, evaluate the alert rules on them."""
    now = timezone.now()
    figures = readings.figures_now(now=now)
    snapshots.samples_store(figures=figures, now=now)
    return alerting.alerts_evaluate(figures=figures, now=now).evaluated
