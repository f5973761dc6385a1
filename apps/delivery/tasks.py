"""Celery tasks of the delivery app: thin adapters around apps.delivery.attempts."""

from celery import Task, shared_task
from celery.exceptions import Reject
from celery.signals import task_postrun, task_prerun

from apps.core import logs, redis_keys
from apps.delivery import attempts, expiry


@shared_task(name="delivery.deliver", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(self: Task, delivery_id: int) -> str:
    """Run one attempt of a delivery (sent to its subscription's queue, sb.<name>)."""
    try:
        return attempts.delivery_attempt(delivery_id=delivery_id, broker_tag=_broker_tag(self), queue=_queue(self))
    except attempts.INFRASTRUCTURE_ERRORS as exc:
        # Redis or the database failed, not the handler: put the message back untouched.
        raise Reject(repr(exc), requeue=True) from exc


@shared_task(name="delivery.deliver_batch", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_batch(self: Task, delivery_ids: list[int]) -> list[str]:
    """Run one attempt of each delivery of a batch (subscriptions with batch_size > 1)."""
    try:
        return attempts.delivery_attempt_batch(
            delivery_ids=delivery_ids, broker_tag=_broker_tag(self), queue=_queue(self)
        )
    except attempts.INFRASTRUCTURE_ERRORS as exc:
        raise Reject(repr(exc), requeue=True) from exc


@shared_task(name="delivery.deliveries_expire", queue=redis_keys.CONTROL_QUEUE, ignore_result=True)
def deliveries_expire() -> int:
    """Dead-letter open deliveries whose TTL passed (beat; the relay sweeps too)."""
    return expiry.deliveries_expire()


def _broker_tag(task: Task) -> str | None:
    """Name the task message in kombu's unacked index (Celery keeps the tag in its properties)."""
    tag = (task.request.properties or {}).get("delivery_tag")
    return str(tag) if tag else None


def _queue(task: Task) -> str | None:
    """Name the queue the task came from: its subscription's (sb.<name>), where its leases live."""
    queue = (task.request.delivery_info or {}).get("routing_key")
    return str(queue) if queue and redis_keys.is_subscription_queue(str(queue)) else None


@task_prerun.connect
def _log_context_start(sender: object = None, args: tuple[object, ...] = (), **kwargs: object) -> None:
    """Name the task's deliveries on every line logged while it runs, Celery's own included."""
    name = getattr(sender, "name", None)
    if name == deliver.name and args:
        logs.log_context_set(delivery_id=args[0])
    elif name == deliver_batch.name and args:
        logs.log_context_set(delivery_ids=args[0])


@task_postrun.connect
def _log_context_end(sender: object = None, **kwargs: object) -> None:
    if getattr(sender, "name", None) in (deliver.name, deliver_batch.name):
        logs.log_context_clear()
