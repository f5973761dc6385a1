"""Create deliveries, send them to their queues, and run one attempt of a delivery."""

import logging
import time
import traceback
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from apps.core.redis import redis_client
from apps.delivery import registry, scheduler
from apps.delivery import tasks as delivery_tasks
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.delivery.retry import RetryPolicy
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors
from apps.topology.models import Subscription, subscription_queue

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 10_000


class _AlreadyFinished(Exception):
    """Another attempt finished this delivery first; roll this one back."""


def deliveries_create(*, messages: list[Message]) -> list[Delivery]:
    """Create one delivery per (message, subscription of its topic); send them after commit."""
    subscriptions: dict[int, list[Subscription]] = {}
    deliveries = []
    for message in messages:
        if message.topic_id not in subscriptions:
            subscriptions[message.topic_id] = topology_selectors.subscriptions_for_topic(topic_id=message.topic_id)
        deliveries += [Delivery(message=message, subscription=s) for s in subscriptions[message.topic_id]]
    Delivery.objects.bulk_create(deliveries)
    queued = [scheduler.ScheduledDelivery(queue=d.subscription.queue, delivery_id=d.pk) for d in deliveries]
    transaction.on_commit(lambda: deliveries_send(queued))
    return deliveries


def deliveries_send(entries: Iterable[scheduler.ScheduledDelivery]) -> None:
    """Send deliveries to their subscription queues over one broker connection."""
    task = delivery_tasks.deliver
    with task.app.producer_or_acquire() as producer:
        for entry in entries:
            task.apply_async(args=[entry.delivery_id], queue=entry.queue, producer=producer)


def scheduled_deliveries_relay(*, limit: int = 500) -> int:
    """Send every due scheduled delivery to its queue; return how many were sent."""
    client = redis_client()
    due = scheduler.claim_due(client, limit=limit)
    if due:
        deliveries_send(due)
        scheduler.release(client, due)
    return len(due)


def delivery_attempt(*, delivery_id: int) -> str:
    """Run one attempt of a delivery and record its outcome; return the new state.

    A delivery that is already delivered or dead is a duplicate (a redelivery after a
    crash, or a second send) and is skipped.
    """
    delivery = Delivery.objects.select_related("message__topic", "subscription").filter(pk=delivery_id).first()
    if delivery is None:
        logger.warning("Delivery %s does not exist (deleted?); skipping it.", delivery_id)
        return "missing"
    if delivery.state not in OPEN_STATES:
        logger.info("Delivery %s is %s already; skipping the duplicate.", delivery_id, delivery.state)
        return "duplicate"
    subscription = delivery.subscription
    attempt = delivery.attempts + 1
    consumer = _consumer_for(subscription)
    received = _received_message(delivery, attempt)
    try:
        if consumer.transactional:
            with transaction.atomic():
                consumer.handler(received)
                _mark_delivered(delivery_id, attempt)
        else:
            consumer.handler(received)
            _mark_delivered(delivery_id, attempt)
    except _AlreadyFinished:
        return "duplicate"
    except (*consumer.retry_for, SoftTimeLimitExceeded) as exc:
        return _failed(delivery, attempt, exc, retryable=True)
    except Exception as exc:  # noqa: BLE001 - recorded as a permanent failure, never retried
        return _failed(delivery, attempt, exc, retryable=False)
    return DeliveryState.DELIVERED


def _consumer_for(subscription: Subscription) -> registry.Consumer:
    """Return what handles the subscription's messages."""
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
    subscription = delivery.subscription
    policy = RetryPolicy(
        max_attempts=subscription.max_attempts,
        initial_delay=subscription.retry_initial_delay,
        multiplier=subscription.retry_multiplier,
        max_delay=subscription.retry_max_delay,
        jitter=subscription.retry_jitter,
    )
    error = "".join(traceback.format_exception(exc))[-MAX_ERROR_LENGTH:]
    will_retry = retryable and policy.can_retry(attempt)
    state = DeliveryState.RETRYING if will_retry else DeliveryState.DEAD
    if will_retry:
        # Park the retry before recording it: a crash in between repeats an attempt
        # (deduplicated) instead of leaving a delivery that nothing will ever retry.
        entry = scheduler.ScheduledDelivery(queue=subscription_queue(subscription.name), delivery_id=delivery.pk)
        scheduler.schedule(redis_client(), [(entry, time.time() + policy.delay_after(attempt))])
    updated = Delivery.objects.filter(pk=delivery.pk, state__in=OPEN_STATES).update(
        state=state,
        attempts=attempt,
        last_error=error,
        finished_at=None if will_retry else timezone.now(),
    )
    logger.info("Delivery %s attempt %s failed (%s): %s", delivery.pk, attempt, state, exc.__class__.__name__)
    return state if updated else "duplicate"
