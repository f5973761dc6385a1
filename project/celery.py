"""The Celery app that delivers Switchboard's messages.

Settings that a deployment tunes (broker URL, visibility timeout, time limits, pool
recycling) come from Django settings under the ``CELERY_`` namespace; the safety rules
below are fixed here on purpose, so no environment can switch them off.
"""

import os

from celery import Celery, bootsteps
from celery.signals import celeryd_after_setup, task_postrun, task_prerun, worker_init, worker_process_shutdown

from apps.core import redis_keys, telemetry
from apps.core.errors import SwitchboardError
from apps.monitoring.worker_heartbeat import ConsumersHeartbeat

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
    # Task events: CELERY_WORKER_SEND_TASK_EVENTS in settings. Deliveries are written to
    # their queues directly (apps.delivery.broker), so there is no task-sent event.
    # Keep retrying the broker at start-up, so a worker started before Redis waits.
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    # Housekeeping tasks go here; every subscription has a queue of its own (sb.<name>).
    task_default_queue=redis_keys.CONTROL_QUEUE,
    task_create_missing_queues=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
)
app.autodiscover_tasks()
# Each worker node tells Redis which queues it consumes (switchboard_consumers).
app.steps["consumer"].add(ConsumersHeartbeat)


class UnsafeTimeLimitsError(SwitchboardError, RuntimeError):
    """A running task's message could be handed out again, or a stuck task never end."""

    status = 500
    code = "unsafe-time-limits"
    title = "Unsafe task time limits"


def check_time_limits(conf: object, *, lease_seconds: float) -> None:
    """Refuse settings under which a running task could run twice at once, or for ever.

    Redis hands an unacknowledged task to another worker once the visibility timeout has
    passed. A running delivery's lease keeper renews that visibility (and the delivery's
    lease) every third of SWITCHBOARD_LEASE_SECONDS, so a lease no longer than the
    visibility timeout renews it at least three times per period, and a handler may run
    past the visibility timeout up to its time limit. The hard time limit must be set, so
    a stuck handler ends and its delivery is retried or dead-lettered.
    """
    visibility = conf.broker_transport_options.get("visibility_timeout", 3600)  # type: ignore[attr-defined]
    hard = conf.task_time_limit  # type: ignore[attr-defined]
    soft = conf.task_soft_time_limit  # type: ignore[attr-defined]
    if lease_seconds > visibility:
        raise UnsafeTimeLimitsError(
            f"SWITCHBOARD_LEASE_SECONDS ({lease_seconds:g}) must not exceed CELERY_BROKER_VISIBILITY_TIMEOUT "
            f"({visibility}): running tasks renew their visibility every third of the lease"
        )
    if hard is None:
        raise UnsafeTimeLimitsError(
            "CELERY_TASK_TIME_LIMIT must be set: a handler that never returns would run for ever"
        )
    if soft is not None and soft >= hard:
        raise UnsafeTimeLimitsError(
            f"CELERY_TASK_SOFT_TIME_LIMIT ({soft}) must be below CELERY_TASK_TIME_LIMIT ({hard})"
        )


@worker_init.connect
def _refuse_unsafe_configuration(sender: object, **kwargs: object) -> None:
    from django.conf import settings

    from apps.core.readiness import UnsafeRedisError, refuse_unsafe_redis

    # Celery logs and swallows an Exception raised by a signal handler; SystemExit passes.
    try:
        check_time_limits(app.conf, lease_seconds=settings.SWITCHBOARD_LEASE_SECONDS)
        refuse_unsafe_redis()
    except (UnsafeTimeLimitsError, UnsafeRedisError) as exc:
        raise SystemExit(f"Refusing to start: {exc}") from exc


@celeryd_after_setup.connect
def _consume_subscription_queues(sender: str, instance: object, **kwargs: object) -> None:
    """Consume every subscription's queue unless the worker was started with -Q."""
    from apps.topology.workers import consume_subscription_queues

    consume_subscription_queues(instance.app.amqp.queues)  # type: ignore[attr-defined]


class PauseReconciler(bootsteps.StartStopStep):
    """Every few seconds, make the worker consume what the subscriptions' `paused` flags say.

    A consumer bootstep: its timer runs in the worker's event loop, where Celery's own
    add_consumer and cancel_consumer run, and it starts again with the consumer after a
    lost Redis connection (apps.topology.workers.queues_reconcile).
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry: object | None = None

    def start(self, parent: object) -> None:
        from django.conf import settings

        from apps.topology.workers import queues_reconcile

        interval = settings.SWITCHBOARD_PAUSE_RECONCILE_SECONDS
        self.timer_entry = parent.timer.call_repeatedly(interval, queues_reconcile, (parent,))  # type: ignore[attr-defined]

    def stop(self, parent: object) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()  # type: ignore[attr-defined]
            self.timer_entry = None

    shutdown = stop


app.steps["consumer"].add(PauseReconciler)


@task_prerun.connect
@task_postrun.connect
def _close_old_database_connections(sender: object = None, **kwargs: object) -> None:
    """Close connections that failed or outlived CONN_MAX_AGE, as Django does around requests.

    Celery's Django fix-up would close every connection around every task (a new
    connection per delivery); CELERY_DB_REUSE_MAX makes it leave them, and this keeps
    Django's request semantics: a connection broken by a database restart is dropped
    before the next task instead of failing it.
    """
    from django.db import close_old_connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inline by the caller (tests), inside its own transaction
    close_old_connections()


@worker_process_shutdown.connect
def _flush_metrics(**kwargs: object) -> None:
    """Send a pool child's last counts before it exits (billiard's children skip atexit)."""
    telemetry.flush()
