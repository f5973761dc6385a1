"""The monitoring app's periodic work: one tick samples the figures and evaluates the rules."""

from apps.monitoring import alerting, readings, snapshots


def monitoring_tick() -> int:
    """Read every subscription's figures once, store them as samples, evaluate the alert rules on them."""
    now, subscriptions = readings.readings_now()
    snapshots.samples_store(readings=subscriptions, now=now)
    return alerting.alerts_evaluate(figures=subscriptions, now=now).evaluated
