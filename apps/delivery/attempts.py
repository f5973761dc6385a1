"""Run attempts of deliveries: each passes its guards, runs its handler, and records its outcome.

An attempt takes its lease (apps.delivery.batch_leases), passes the guards
(apps.delivery.guards), runs the subscription's consumer (apps.delivery.consumers), and
records the outcome through the ledger: delivered, retrying (scheduled again after the
subscription's backoff) or dead (a dead letter). Copies that must not run are skipped
and counted (apps.delivery.outcomes).
"""

import collections
import contextlib
import logging
import time
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime

import django.db
import kombu.exceptions
import redis
from django.db import transaction

from apps.core import telemetry
from apps.core.consumers import Consumer, ReceivedMessage, UnknownConsumerError
from apps.core.errors import RetryableError, SwitchboardError
from apps.core.logs import log_context, log_context_update
from apps.core.redis import redis_client
from apps.deadletters.models import DeadLetterReason
from apps.delivery import attempt_log, consumers, error_reports, guards, ledger, outcomes, scheduler, selectors
from apps.delivery.attempt_log import AttemptLog
from apps.delivery.batch_leases import BatchLeases
from apps.delivery.models import Delivery, DeliveryState
from apps.delivery.retry import RetryPolicy
from apps.topology.models import ConsumerKind

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 10_000
# A batch's transaction commits after at most this long, and the batch goes on in a new one.
BATCH_COMMIT_SECONDS = 0.5

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
    queues = selectors.delivery_queues(delivery_ids) if queue is None else dict.fromkeys(delivery_ids, queue)
    batch = BatchLeases.take(redis_client(), delivery_ids=delivery_ids, queues=queues, broker_tag=broker_tag)
    one_transaction = False
    try:
        loaded = selectors.deliveries_for_attempt(list(batch.held))
        _name_in_task_lines(loaded.values())
        one_transaction = batch.counted_together() and _transactional(loaded.values())
        results = _attempt_in_turn(batch, delivery_ids, loaded, one_transaction=one_transaction)
    except BaseException:
        # Redis or the database failed (Exception): the task message goes back to the
        # queue (see tasks), so free the leases for its next copy. Interrupted (hard time
        # limit, cold shutdown): the running delivery keeps its lease (see _attempt_one),
        # the others are freed, if Redis answers. A start counted for an attempt that
        # never began is taken back; one that began still counts, and so does one whose
        # outcome the batch's transaction just rolled back.
        batch.release_after_error(rolled_back=one_transaction)
        raise
    finally:
        batch.stop_renewing()
    batch.release_finished()
    return results


def _name_in_task_lines(deliveries: Iterable[Delivery]) -> None:
    """Name the subscription (and a lone delivery's message) on the task's lines, Celery's included."""
    deliveries = list(deliveries)
    subscriptions = {d.subscription.name for d in deliveries}
    if len(subscriptions) == 1:
        log_context_update(subscription=subscriptions.pop())
    if len(deliveries) == 1:
        log_context_update(message_id=str(deliveries[0].message_id))


def _transactional(deliveries: Iterable[Delivery]) -> bool:
    """Say whether a batch's deliveries all go to one transactional consumer."""
    subscriptions = {delivery.subscription_id: delivery.subscription for delivery in deliveries}
    if len(subscriptions) != 1:
        return False
    (subscription,) = subscriptions.values()
    try:
        return consumers.consumer_for(subscription).transactional
    except UnknownConsumerError:
        return False  # each of its deliveries meets that error on its own


def _attempt_in_turn(
    batch: BatchLeases, delivery_ids: list[int], loaded: dict[int, Delivery], *, one_transaction: bool
) -> list[str]:
    """Attempt each delivery in the batch's order; return their outcomes."""
    results: list[str] = []
    remaining = collections.deque(delivery_ids)
    while remaining:
        # A long batch commits every BATCH_COMMIT_SECONDS, so that (on SQLite) it does
        # not hold the database's write lock for the whole batch.
        with transaction.atomic() if one_transaction else contextlib.nullcontext():
            commit_by = time.monotonic() + BATCH_COMMIT_SECONDS
            log = AttemptLog(batched=one_transaction)
            while remaining:
                results.append(_attempt_one(batch, remaining.popleft(), loaded, log))
                if one_transaction and time.monotonic() >= commit_by:
                    break
            log.flush()  # with the batch's commit, when it has one
        if remaining:
            batch.release_finished()  # committed: free them for good
    return results


def _attempt_one(batch: BatchLeases, delivery_id: int, loaded: dict[int, Delivery], log: AttemptLog) -> str:
    """Attempt one delivery of the batch; every line it logs names the delivery, its message and subscription."""
    delivery = loaded.get(delivery_id)
    if delivery is None:
        with log_context(delivery_id=delivery_id):
            return _attempt_one_logged(batch, delivery_id, loaded, log)
    with log_context(
        delivery_id=delivery_id, message_id=str(delivery.message_id), subscription=delivery.subscription.name
    ):
        return _attempt_one_logged(batch, delivery_id, loaded, log)


def _attempt_one_logged(batch: BatchLeases, delivery_id: int, loaded: dict[int, Delivery], log: AttemptLog) -> str:
    """Attempt one delivery of the batch; release its lease with the next round trip unless interrupted."""
    candidate = guards.Candidate(
        delivery_id=delivery_id,
        queue=batch.queues.get(delivery_id),
        start=batch.take_over(delivery_id),
        delivery=loaded.get(delivery_id),
    )
    skipped = guards.first_outcome(guards.BEFORE_START, candidate)
    if skipped is not None:
        if candidate.start is not None:
            batch.finish(delivery_id, final=skipped in outcomes.FINAL_OUTCOMES)
        return skipped
    delivery, start = candidate.delivery, candidate.start
    assert delivery is not None and start is not None
    if delivery.subscription.queue != candidate.queue:
        # The task came through another queue than its subscription's: lease it under
        # the right name instead (a start counted under the wrong one stays counted).
        batch.release_now(delivery_id)
        return delivery_attempt(delivery_id=delivery_id, broker_tag=batch.broker_tag, queue=delivery.subscription.queue)
    try:
        candidate.start = batch.begin(delivery_id, start)
        outcome = guards.first_outcome(guards.AFTER_START, candidate) or _run(delivery, candidate.attempt, log)
    except Exception:
        batch.finish(delivery_id, final=False)  # freed for the requeued copy; the start counts
        raise
    batch.finish(delivery_id, final=outcome in outcomes.FINAL_OUTCOMES)
    return outcome


def _run(delivery: Delivery, attempt: int, log: AttemptLog) -> str:
    """Run the handler and record its outcome (with the handler's writes, for a transactional consumer).

    A Python consumer's run is noted in the attempt log (a webhook's transport notes its own).
    """
    consumer = consumers.consumer_for(delivery.subscription)
    received = consumers.received_message(delivery, attempt=attempt)
    due = delivery.retry_at or delivery.not_before or delivery.message.published_at
    telemetry.observe(telemetry.LATENCY, received.subscription, max(0.0, time.time() - due.timestamp()))
    started_at, started = datetime.now(UTC), time.perf_counter()

    def note(kind: str, error: str = "") -> None:
        if delivery.subscription.consumer_kind == ConsumerKind.PYTHON:
            log.record(
                delivery_id=delivery.pk,
                attempt=attempt,
                started_at=started_at,
                started=started,
                outcome=kind,
                error=error,
            )

    try:
        if consumer.transactional:
            with transaction.atomic():
                _handle(consumer, received)
                _mark_delivered(delivery, attempt)
                # In the handler's transaction: the attempt's row costs no commit of its own.
                note(attempt_log.SUCCESS)
                log.flush_unless_batched()
        else:
            _handle(consumer, received)
            _mark_delivered(delivery, attempt)
            note(attempt_log.SUCCESS)
    except _AlreadyFinishedError:
        note(attempt_log.SUCCESS)
        return outcomes.duplicate(delivery.subscription.name)
    except INFRASTRUCTURE_ERRORS:
        raise
    except consumers.retryable_errors(consumer) as exc:
        error = _error_text(exc)
        note(attempt_log.RETRYABLE, error)
        return _failed(delivery, attempt, exc, error, retryable=True)
    except Exception as exc:  # noqa: BLE001 - recorded as a permanent failure, never retried
        error = _error_text(exc)
        note(attempt_log.PERMANENT, error)
        return _failed(delivery, attempt, exc, error, retryable=False)
    return DeliveryState.DELIVERED


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-MAX_ERROR_LENGTH:]


def _handle(consumer: Consumer, received: ReceivedMessage) -> None:
    """Run the handler, timing it (`switchboard_handler_duration_seconds`) however it ends."""
    started = time.perf_counter()
    try:
        consumer.handler(received)
    finally:
        telemetry.observe(telemetry.DURATION, received.subscription, time.perf_counter() - started)


def _mark_delivered(delivery: Delivery, attempt: int) -> None:
    if not ledger.delivery_mark_delivered(
        delivery_id=delivery.pk, subscription=delivery.subscription.name, attempt=attempt
    ):
        raise _AlreadyFinishedError


def _failed(delivery: Delivery, attempt: int, exc: BaseException, error: str, *, retryable: bool) -> str:
    """Schedule the next attempt, or dead-letter the delivery when none is left."""
    subscription = delivery.subscription
    policy = RetryPolicy(
        max_attempts=subscription.max_attempts,
        initial_delay=subscription.retry_initial_delay,
        multiplier=subscription.retry_multiplier,
        max_delay=subscription.retry_max_delay,
        jitter=subscription.retry_jitter,
    )
    logger.info("Delivery %s attempt %s failed: %s", delivery.pk, attempt, exc.__class__.__name__)
    if retryable and policy.can_retry(attempt):
        # Park the retry before recording it: a crash in between repeats an attempt
        # (deduplicated) instead of leaving a delivery that nothing will ever retry.
        entry = scheduler.ScheduledDelivery(queue=subscription.queue, delivery_id=delivery.pk)
        delay = policy.delay_after(attempt)
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)  # the endpoint asked for longer (Retry-After)
        due = time.time() + delay
        scheduler.schedule(redis_client(), [(entry, due)])
        if not ledger.delivery_mark_retrying(
            delivery_id=delivery.pk,
            subscription=subscription.name,
            attempt=attempt,
            error=error,
            due=datetime.fromtimestamp(due, tz=UTC),
        ):
            return outcomes.duplicate(subscription.name)
        error_reports.retry_breadcrumb(delivery=delivery, attempt=attempt, error=exc, delay=delay)
        return DeliveryState.RETRYING
    reason = DeadLetterReason.EXHAUSTED if retryable else DeadLetterReason.PERMANENT
    return outcomes.dead(delivery=delivery, reason=reason, attempts=attempt, error=error, exc=exc)
