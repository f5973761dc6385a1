"""Celery tasks of the delivery app: thin adapters around apps.delivery.attempts."""

from celery import Task, shared_task
from celery.exceptions import Reject
from celery.signals import task_postrun, task_prerun

from apps.core import logs, redis_keys
from apps.core.errors import SwitchboardError
from apps.delivery import attempts, expiry
from apps.delivery.models import DeliveryState


class DeadLetteredError(SwitchboardError):
    """The task's delivery (or one of its batch) ended as a dead letter.

    Raised once the dead letter is committed, so that Celery's events, and Flower, show
    the task FAILURE rather than SUCCESS. It is an expected error (the tasks' `throws`):
    Celery logs it without a traceback, acknowledges the message (acks on failure), and
    sentry-sdk does not capture it (apps.delivery.error_reports reported the dead letter).
    """

    status = 422
    code = "delivery-dead-lettered"
    title = "Delivery dead-lettered"


@shared_task(
    name="delivery.deliver",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    throws=(DeadLetteredError,),
)
def deliver(self: Task, delivery_id: int) -> str:
    """Run one attempt of a delivery (sent to its subscription's queue, sb.<name>)."""
    try:
        outcome = attempts.delivery_attempt(delivery_id=delivery_id, broker_tag=_broker_tag(self), queue=_queue(self))
    except attempts.INFRASTRUCTURE_ERRORS as exc:
        # Redis or the database failed, not the handler: put the message back untouched.
        raise Reject(repr(exc), requeue=True) from exc
    return _failed_if_dead([delivery_id], [outcome])[0]


@shared_task(
    name="delivery.deliver_batch",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    throws=(DeadLetteredError,),
)
def deliver_batch(self: Task, delivery_ids: list[int]) -> list[str]:
    """Run one attempt of each delivery of a batch (subscriptions with batch_size > 1)."""
    try:
        outcomes = attempts.delivery_attempt_batch(
            delivery_ids=delivery_ids, broker_tag=_broker_tag(self), queue=_queue(self)
        )
    except attempts.INFRASTRUCTURE_ERRORS as exc:
        raise Reject(repr(exc), requeue=True) from exc
    return _failed_if_dead(delivery_ids, outcomes)


def _failed_if_dead(delivery_ids: list[int], outcomes: list[str]) -> list[str]:
    """Return the outcomes, or raise DeadLetteredError naming the deliveries that died."""
    dead = [str(i) for i, outcome in zip(delivery_ids, outcomes, strict=False) if outcome == DeliveryState.DEAD]
    if dead:
        raise DeadLetteredError(f"Dead-lettered: deliver{'y' if len(dead) == 1 else 'ies'} {', '.join(dead)}.")
    return outcomes


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
