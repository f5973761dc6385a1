"""The Celery app that delivers Switchboard's messages.

Settings that a deployment tunes (broker URL, visibility timeout, time limits, pool
recycling) come from Django settings under the ``CELERY_`` namespace; the safety rules
below are fixed here on purpose, so no environment can switch them off.
"""

import os

from celery import Celery
from celery.signals import celeryd_after_setup, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.local")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # JSON only: a pickle payload from anyone who can reach Redis would run code.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    event_serializer="json",
    # Acknowledge after the handler finished, so a crashed worker's task is redelivered;
    # deliveries are deduplicated by (subscription, message), so re-running is safe.
    task_acks_late=True,
    # A pool child killed mid-task (SIGKILL, OOM) puts its task back instead of
    # acknowledging it as failed and losing it.
    task_reject_on_worker_lost=True,
    # Take one message at a time: a long handler does not hold others hostage, and at
    # most one unacknowledged message per process waits on a crash.
    worker_prefetch_multiplier=1,
    # Outcomes live in Switchboard's own ledger; Celery results would only fill Redis.
    task_ignore_result=True,
    # Send events so Flower shows tasks and workers.
    worker_send_task_events=True,
    task_send_sent_event=True,
    # Keep retrying the broker at start-up, so a worker started before Redis waits.
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    # Housekeeping tasks go here; every subscription has a queue of its own (sb.<name>).
    task_default_queue="sb.control",
    task_create_missing_queues=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
)
app.autodiscover_tasks()


class UnsafeTimeLimitsError(RuntimeError):
    """The task time limits do not stay below the broker's visibility timeout."""


def check_time_limits(conf: object) -> None:
    """Refuse time limits that let a task outlive the visibility timeout.

    Redis hands an unacknowledged task to another worker once the visibility timeout
    has passed; a task allowed to run longer would then run twice at once.
    """
    visibility = conf.broker_transport_options.get("visibility_timeout", 3600)  # type: ignore[attr-defined]
    hard = conf.task_time_limit  # type: ignore[attr-defined]
    soft = conf.task_soft_time_limit  # type: ignore[attr-defined]
    if hard is None or hard >= visibility:
        raise UnsafeTimeLimitsError(
            f"CELERY_TASK_TIME_LIMIT ({hard}) must be below CELERY_BROKER_VISIBILITY_TIMEOUT ({visibility})"
        )
    if soft is not None and soft >= hard:
        raise UnsafeTimeLimitsError(
            f"CELERY_TASK_SOFT_TIME_LIMIT ({soft}) must be below CELERY_TASK_TIME_LIMIT ({hard})"
        )


@worker_init.connect
def _refuse_unsafe_configuration(sender: object, **kwargs: object) -> None:
    from apps.core.readiness import UnsafeRedis, refuse_unsafe_redis

    # Celery logs and swallows an Exception raised by a signal handler; SystemExit passes.
    try:
        check_time_limits(app.conf)
        refuse_unsafe_redis()
    except (UnsafeTimeLimitsError, UnsafeRedis) as exc:
        raise SystemExit(f"Refusing to start: {exc}") from exc


@celeryd_after_setup.connect
def _consume_subscription_queues(sender: str, instance: object, **kwargs: object) -> None:
    """Consume every subscription's queue unless the worker was started with -Q."""
    from apps.delivery.worker import consume_subscription_queues

    consume_subscription_queues(instance.app.amqp.queues)  # type: ignore[attr-defined]
