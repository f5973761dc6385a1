"""Celery tasks of the monitoring app: thin adapters run by beat."""

from celery import shared_task

from apps.monitoring import services


@shared_task(name="monitoring.tick", ignore_result=True)
def tick() -> int:
    """Sample every subscription's figures, then evaluate the alert rules on them."""
    return services.monitoring_tick()
