"""Run attempts of deliveries and record their outcomes: delivered, retrying or dead."""

import logging
import time
import traceback

import django.db
import kombu.exceptions
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from apps.core.errors import RetryableError
from apps.core.redis import redis_client
from apps.deadletters import services as deadletter_services
from apps.deadletters.models import DeadLetterReason
from apps.delivery import counters, leases, registry, scheduler, webhooks
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.delivery.retry import RetryPolicy
from apps.topology.models import ConsumerKind, Subscription, subscription_queue

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 10_000


# Failures of Redis or the database rather than of the handler: the task message goes back
# to the queue untouched, to run again when they are back.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    redis.RedisError,
    kombu.exceptions.OperationalError,
    django.db.OperationalError,
    django.db.InterfaceError,
)


class _AlreadyFinished(Exception):
    """Another attempt finished this delivery first; roll this one back."""


def delivery_attempt(*, delivery_id: int, broker_tag: str | None = None) -> str:
    """Run one attempt of a delivery and record its outcome; return the new state."""
    return delivery_attempt_batch(delivery_ids=[delivery_id], broker_tag=broker_tag)[0]


def delivery_attempt_batch(*, delivery_ids: list[int], broker_tag: str | None = None) -> list[str]:
    """Run one attempt of each delivery, each succeeding, retrying or dying on its own.

    The deliveries are loaded in one query. One that is already delivered or dead is a
    duplicate (a redelivery after a crash, or a second send): it is skipped and counted.
    `broker_tag` names the task message, whose visibility is renewed while it runs.
    """
    loaded = Delivery.objects.select_related("message__topic", "subscription").in_bulk(delivery_ids)
    outcomes = []
    for delivery_id in delivery_ids:
        delivery = loaded.get(delivery_id)
        if delivery is None:
            logger.warning("Delivery %s does not exist (deleted?); skipping it.", delivery_id)
            outcomes.append("missing")
        elif delivery.state not in OPEN_STATES:
            logger.info("Delivery %s is %s already; skipping the duplicate.", delivery_id, delivery.state)
            counters.count(counters.duplicates(delivery.subscription.name))
            outcomes.append(DUPLICATE)
        else:
            outcomes.append(_attempt(delivery, broker_tag))
    return outcomes


DUPLICATE = "duplicate"
FINAL_OUTCOMES = {DeliveryState.DELIVERED, DeliveryState.DEAD, DUPLICATE}


def _attempt(delivery: Delivery, broker_tag: str | None) -> str:
    subscription = delivery.subscription
    expires_at = delivery.message.expires_at
    if expires_at is not None and timezone.now() >= expires_at:
        error = f"The message expired at {expires_at.isoformat()} before it could be delivered."
        return delivery_kill(
            delivery=delivery, reason=DeadLetterReason.EXPIRED, attempts=delivery.attempts, error=error
        )
    client = redis_client()
    starts = leases.lease_start(client, queue=subscription.queue, delivery_id=delivery.pk)
    if starts < 0:
        logger.info("Delivery %s is running elsewhere; skipping this copy.", delivery.pk)
        counters.count(counters.duplicates(subscription.name))
        return DUPLICATE
    # Another copy may have finished the delivery between loading it and taking the lease.
    current = Delivery.objects.filter(pk=delivery.pk).values_list("state", "attempts").first()
    if current is None or current[0] not in OPEN_STATES:
        leases.lease_finish(client, queue=subscription.queue, delivery_id=delivery.pk, final=True)
        counters.count(counters.duplicates(subscription.name))
        return DUPLICATE
    delivery.attempts = current[1]
    attempt = max(starts, delivery.attempts + 1)
    keeper = leases.lease_keeper(client)
    keeper.hold(queue=subscription.queue, delivery_id=delivery.pk, broker_tag=broker_tag)
    try:
        run = _worker_lost if attempt > subscription.max_attempts else _run
        outcome = run(delivery, attempt)
    except Exception:
        # Redis or the database failed: the task message goes back to the queue (see
        # tasks), so free the lease for its next copy; the start still counts.
        keeper.release(queue=subscription.queue, delivery_id=delivery.pk, broker_tag=broker_tag)
        leases.lease_finish(client, queue=subscription.queue, delivery_id=delivery.pk, final=False)
        raise
    except BaseException:
        # Interrupted (hard time limit, cold shutdown): stop renewing but keep the lease,
        # so nothing else runs it meanwhile and the relay brings it back once it runs out.
        keeper.release(queue=subscription.queue, delivery_id=delivery.pk, broker_tag=broker_tag)
        raise
    keeper.release(queue=subscription.queue, delivery_id=delivery.pk, broker_tag=broker_tag)
    leases.lease_finish(client, queue=subscription.queue, delivery_id=delivery.pk, final=outcome in FINAL_OUTCOMES)
    return outcome


def _run(delivery: Delivery, attempt: int) -> str:
    consumer = _consumer_for(delivery.subscription)
    received = _received_message(delivery, attempt)
    try:
        if consumer.transactional:
            with transaction.atomic():
                consumer.handler(received)
                _mark_delivered(delivery.pk, attempt)
        else:
            consumer.handler(received)
            _mark_delivered(delivery.pk, attempt)
    except _AlreadyFinished:
        counters.count(counters.duplicates(delivery.subscription.name))
        return DUPLICATE
    except INFRASTRUCTURE_ERRORS:
        raise
    except retryable_errors(consumer) as exc:
        return _failed(delivery, attempt, exc, retryable=True)
    except Exception as exc:  # noqa: BLE001 - recorded as a permanent failure, never retried
        return _failed(delivery, attempt, exc, retryable=False)
    return DeliveryState.DELIVERED


def _worker_lost(delivery: Delivery, attempt: int) -> str:
    """Dead-letter a delivery whose earlier attempts never finished: its worker died each time."""
    lost = attempt - 1 - delivery.attempts
    error = (
        f"The worker running this delivery died (SIGKILL, out of memory or a crash) {lost} time(s); "
        f"{attempt - 1} attempt(s) of at most {delivery.subscription.max_attempts} were used."
    )
    if delivery.last_error:
        error += f"\nLast recorded error:\n{delivery.last_error}"
    return delivery_kill(delivery=delivery, reason=DeadLetterReason.WORKER_LOST, attempts=attempt - 1, error=error)


def retryable_errors(consumer: registry.Consumer) -> tuple[type[BaseException], ...]:
    """Name the errors worth another attempt: the consumer's own, and running out of time."""
    return (*consumer.retry_for, SoftTimeLimitExceeded)


def _consumer_for(subscription: Subscription) -> registry.Consumer:
    """Return what handles the subscription's messages: a webhook POST or a Python handler.

    A webhook's effect is outside Switchboard's database, so it cannot commit with the
    delivery's state: it is delivered at least once (receivers deduplicate by webhook-id).
    """
    if subscription.consumer_kind == ConsumerKind.WEBHOOK:
        return registry.Consumer(
            name=subscription.name,
            handler=lambda message: webhooks.webhook_deliver(subscription=subscription, message=message),
            transactional=False,
            retry_for=(RetryableError,),
        )
    return registry.consumer_get(subscription.handler)


def _received_message(delivery: Delivery, attempt: int) -> registry.ReceivedMessage:
    message = delivery.message
    return registry.ReceivedMessage(
        id=str(message.id),
        topic=message.topic.name,
        payload=message.payload,
        attributes=message.attributes,
        key=message.key,
        published_at=message.published_at,
        subscription=delivery.subscription.name,
        attempt=attempt,
    )


def _mark_delivered(delivery_id: int, attempt: int) -> None:
    updated = Delivery.objects.filter(pk=delivery_id, state__in=OPEN_STATES).update(
        state=DeliveryState.DELIVERED, attempts=attempt, last_error="", finished_at=timezone.now()
    )
    if updated == 0:
        raise _AlreadyFinished


def _failed(delivery: Delivery, attempt: int, exc: BaseException, *, retryable: bool) -> str:
    """Schedule the next attempt, or dead-letter the delivery when none is left."""
    subscription = delivery.subscription
    policy = RetryPolicy(
        max_attempts=subscription.max_attempts,
        initial_delay=subscription.retry_initial_delay,
        multiplier=subscription.retry_multiplier,
        max_delay=subscription.retry_max_delay,
        jitter=subscription.retry_jitter,
    )
    error = "".join(traceback.format_exception(exc))[-MAX_ERROR_LENGTH:]
    logger.info("Delivery %s attempt %s failed: %s", delivery.pk, attempt, exc.__class__.__name__)
    if retryable and policy.can_retry(attempt):
        # Park the retry before recording it: a crash in between repeats an attempt
        # (deduplicated) instead of leaving a delivery that nothing will ever retry.
        entry = scheduler.ScheduledDelivery(queue=subscription_queue(subscription.name), delivery_id=delivery.pk)
        delay = policy.delay_after(attempt)
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)  # the endpoint asked for longer (Retry-After)
        scheduler.schedule(redis_client(), [(entry, time.time() + delay)])
        updated = Delivery.objects.filter(pk=delivery.pk, state__in=OPEN_STATES).update(
            state=DeliveryState.RETRYING, attempts=attempt, last_error=error
        )
        if not updated:
            counters.count(counters.duplicates(subscription.name))
            return DUPLICATE
        return DeliveryState.RETRYING
    reason = DeadLetterReason.EXHAUSTED if retryable else DeadLetterReason.PERMANENT
    return delivery_kill(delivery=delivery, reason=reason, attempts=attempt, error=error)


def delivery_kill(*, delivery: Delivery, reason: DeadLetterReason, attempts: int, error: str) -> str:
    """Mark the delivery dead and keep it as a dead letter, in one transaction."""
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, state__in=OPEN_STATES).update(
            state=DeliveryState.DEAD, attempts=attempts, last_error=error, finished_at=timezone.now()
        )
        if not updated:
            counters.count(counters.duplicates(delivery.subscription.name))
            return DUPLICATE
        deadletter_services.dead_letter_for_delivery(delivery=delivery, reason=reason, attempts=attempts, error=error)
    return DeliveryState.DEAD
