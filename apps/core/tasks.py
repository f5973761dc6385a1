"""Celery tasks of the core app: retention, run by beat (CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task

from apps.core import redis_keys, retention


@shared_task(name="core.retention_run", queue=redis_keys.CONTROL_QUEUE, ignore_result=True)
def retention_run(policy: str) -> int:
    """Delete a bounded number of chunks of the policy's due rows; the next run goes on."""
    return retention.retention_run(retention.retention_policy(policy))
