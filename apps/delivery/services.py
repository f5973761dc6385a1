"""Run attempts of deliveries and record their outcomes: delivered, retrying or dead."""

import collections
import contextlib
import logging
import time
import traceback
from collections.abc import Iterable
from functools import cache

import django.db
import kombu.exceptions
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import RetryableError, SwitchboardError
from apps.core.redis import redis_client
from apps.deadletters import services as deadletter_services
from apps.deadletters.models import DeadLetterReason
from apps.delivery import counters, leases, registry, scheduler, selectors, webhooks
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


class _AlreadyFinishedError(SwitchboardError):
    """Another attempt finished this delivery first; roll this one back."""

    status = 409
    code = "delivery-already-finished"
    title = "Delivery already finished"


def delivery_attempt(*, delivery_id: int, broker_tag: str | None = None, queue: str | None = None) -> str:
    """Run one attempt of a delivery and record its outcome; return the new state."""
    return delivery_attempt_batch(delivery_ids=[delivery_id], broker_tag=broker_tag, queue=queue)[0]


# A batch's transaction commits after at most this long, and the batch goes on in a new one.
BATCH_COMMIT_SECONDS = 0.5

MISSING = "missing"
DUPLICATE = "duplicate"
FINAL_OUTCOMES = {DeliveryState.DELIVERED, DeliveryState.DEAD, DUPLICATE, MISSING}


def delivery_attempt_batch(
    *, delivery_ids: list[int], broker_tag: str | None = None, queue: str | None = None
) -> list[str]:
    """Run one attempt of each delivery, each succeeding, retrying or dying on its own.

    Every lease is taken first, in one Redis round trip, and the deliveries are loaded
    after it, in one query: a copy that finished elsewhere before the lease was taken is
    seen finished, and one that holds the lease is skipped. Both are duplicates (a
    redelivery after a crash, a second send): skipped and counted.

    Starts are counted so that a poison message that kills its worker is dead-lettered:
    - a first run of a batch counts every start with the leases, and a transactional
      consumer's batch runs in one database transaction, each delivery in its own
      savepoint (one commit, not one per delivery; a long batch commits every
      BATCH_COMMIT_SECONDS). A crash then charges every delivery of the batch one start
      and rolls back the effects not committed yet;
    - a batch holding a delivery that started before (a redelivery) counts each start
      right before it runs (with the previous lease's release, one round trip) and
      commits each delivery on its own, so the poison message is charged its own starts,
      never those of the deliveries queued behind it.

    `queue` is the queue the task came from, its subscription's; without it the queues
    are looked up (one more query). `broker_tag` names the task message, whose
    visibility is renewed while it runs.
    """
    client = redis_client()
    queues = _queues_of(delivery_ids) if queue is None else dict.fromkeys(delivery_ids, queue)
    leased = list(dict.fromkeys(i for i in delivery_ids if i in queues))
    count = leases.CountStarts.ALL if len(leased) == 1 else leases.CountStarts.IF_FRESH
    taken = leases.leases_take(client, [(queues[i], i) for i in leased], count_starts=count)
    held = {i: start for i, start in zip(leased, taken, strict=True) if start >= 0}
    keeper = leases.lease_keeper(client)
    for delivery_id in held:
        keeper.hold(queue=queues[delivery_id], delivery_id=delivery_id, broker_tag=broker_tag)
    # Leases to release with the next round trip, as (queue, delivery id, final).
    finished: list[tuple[str, int, bool]] = []
    # Starts counted for deliveries whose attempt has not begun: uncounted on an error.
    counted = {i for i, start in held.items() if start > 0}
    outcomes: list[str] = []
    remaining = collections.deque(delivery_ids)
    one_transaction = False

    def attempt_next() -> str:
        delivery_id = remaining.popleft()
        if delivery_id not in queues:
            logger.warning("Delivery %s does not exist (deleted?); skipping it.", delivery_id)
            return MISSING
        if delivery_id not in held:
            logger.info("Delivery %s is running elsewhere; skipping this copy.", delivery_id)
            return _duplicate(_subscription_name(queues[delivery_id]))
        start = held.pop(delivery_id)
        return _attempt_held(
            client, loaded.get(delivery_id), delivery_id, queues[delivery_id], start, finished, counted, broker_tag
        )

    try:
        loaded = selectors.deliveries_for_attempt(list(held))
        one_transaction = len(counted) > 1 and _transactional(loaded.values())
        while remaining:
            # A long batch commits every BATCH_COMMIT_SECONDS, so that (on SQLite) it
            # does not hold the database's write lock for the whole batch.
            with transaction.atomic() if one_transaction else contextlib.nullcontext():
                commit_by = time.monotonic() + BATCH_COMMIT_SECONDS
                while remaining:
                    outcomes.append(attempt_next())
                    if one_transaction and time.monotonic() >= commit_by:
                        break
            if remaining:
                leases.leases_finish(client, finished)  # committed: free them for good
                finished.clear()
    except BaseException:
        # Redis or the database failed (Exception): the task message goes back to the
        # queue (see tasks), so free the leases for its next copy. Interrupted (hard time
        # limit, cold shutdown): the running delivery keeps its lease (see _attempt_held),
        # the others are freed, if Redis answers. A start counted for an attempt that
        # never began is taken back; one that began still counts, and so does one whose
        # outcome the batch's transaction just rolled back.
        if one_transaction:
            finished = [(q, i, False) for q, i, _ in finished]
        _release_after_error(client, finished + [(queues[i], i, False) for i in held], counted)
        raise
    finally:
        for delivery_id in leased:
            keeper.release(queue=queues[delivery_id], delivery_id=delivery_id, broker_tag=broker_tag)
    leases.leases_finish(client, finished)
    return outcomes


def _transactional(deliveries: Iterable[Delivery]) -> bool:
    """Say whether a batch's deliveries all go to one transactional consumer (see _consumer_for)."""
    subscriptions = {delivery.subscription_id: delivery.subscription for delivery in deliveries}
    if len(subscriptions) != 1:
        return False
    (subscription,) = subscriptions.values()
    try:
        return _consumer_for(subscription).transactional
    except registry.UnknownConsumerError:
        return False  # each of its deliveries meets that error on its own


def _attempt_held(
    client: redis.Redis,
    delivery: Delivery | None,
    delivery_id: int,
    queue: str,
    start: int,
    finished: list[tuple[str, int, bool]],
    counted: set[int],
    broker_tag: str | None,
) -> str:
    """Attempt a delivery whose lease this process holds; add its lease to `finished` unless interrupted."""
    if delivery is None:
        logger.warning("Delivery %s does not exist (deleted?); skipping it.", delivery_id)
        finished.append((queue, delivery_id, True))
        return MISSING
    if delivery.subscription.queue != queue:
        # The task came through another queue than its subscription's: lease it under
        # the right name instead (a start counted under the wrong one stays counted).
        leases.leases_finish(client, [(queue, delivery_id, False)])
        counted.discard(delivery_id)
        return delivery_attempt(delivery_id=delivery_id, broker_tag=broker_tag, queue=delivery.subscription.queue)
    if delivery.state not in OPEN_STATES:
        logger.info("Delivery %s is %s already; skipping the duplicate.", delivery_id, delivery.state)
        finished.append((queue, delivery_id, True))
        return _duplicate(delivery.subscription.name)
    counted.discard(delivery_id)
    try:
        if start == 0:
            # A batch counts each start right before it runs, releasing the leases of
            # what finished before it in the same round trip.
            start = leases.lease_count_start(client, delivery_id=delivery_id, finished=finished)
            finished.clear()
        outcome = _attempt(delivery, start)
    except Exception:
        finished.append((queue, delivery_id, False))  # freed for the requeued copy; the start counts
        raise
    finished.append((queue, delivery_id, outcome in FINAL_OUTCOMES))
    return outcome


def _release_after_error(client: redis.Redis, finished: list[tuple[str, int, bool]], counted: set[int]) -> None:
    try:
        leases.leases_finish(client, finished)
        leases.starts_uncount(client, sorted(counted))
    except redis.RedisError as exc:
        logger.warning("Cannot release delivery leases (%s); they run out on their own.", exc)


def _queues_of(delivery_ids: list[int]) -> dict[int, str]:
    """Map each existing delivery to its subscription's queue (one query)."""
    rows = Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "subscription__name")
    return {pk: subscription_queue(name) for pk, name in rows}


def _duplicate(subscription: str) -> str:
    """Count a skipped copy of a delivery (a redelivery, a second send) and name the outcome."""
    counters.count(counters.duplicates(subscription))
    return DUPLICATE


def _subscription_name(queue: str) -> str:
    return queue.removeprefix(subscription_queue(""))


def _attempt(delivery: Delivery, starts: int) -> str:
    subscription = delivery.subscription
    expires_at = delivery.message.expires_at
    if expires_at is not None and timezone.now() >= expires_at:
        error = f"The message expired at {expires_at.isoformat()} before it could be delivered."
        return delivery_kill(
            delivery=delivery, reason=DeadLetterReason.EXPIRED, attempts=delivery.attempts, error=error
        )
    attempt = max(starts, delivery.attempts + 1)
    run = _worker_lost if attempt > subscription.max_attempts else _run
    return run(delivery, attempt)


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
    except _AlreadyFinishedError:
        return _duplicate(delivery.subscription.name)
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
    """Record the delivery delivered, unless another attempt finished it first.

    `Delivery.objects.filter(pk=..., state__in=OPEN_STATES).update(...)` in SQL written
    once: on the hot path Django compiling the UPDATE took longer than running it.
    """
    finished_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _mark_delivered_sql(), [DeliveryState.DELIVERED.value, attempt, "", finished_at, delivery_id, *OPEN_STATES]
        )
        updated = cursor.rowcount
    if updated == 0:
        raise _AlreadyFinishedError


@cache
def _mark_delivered_sql() -> str:
    q = connection.ops.quote_name
    table = q(Delivery._meta.db_table)
    states = ", ".join(["%s"] * len(OPEN_STATES))
    return (
        f"UPDATE {table} SET {q('state')} = %s, {q('attempts')} = %s, {q('last_error')} = %s,"  # noqa: S608 - no input
        f" {q('finished_at')} = %s WHERE {q('id')} = %s AND {q('state')} IN ({states})"
    )


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
            return _duplicate(subscription.name)
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
            return _duplicate(delivery.subscription.name)
        deadletter_services.dead_letter_for_delivery(delivery=delivery, reason=reason, attempts=attempts, error=error)
    return DeliveryState.DEAD
