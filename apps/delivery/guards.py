"""The checks an attempt passes, in order, before its handler runs.

Each guard is one small function with one concern, in the spirit of dramatiq's
middleware: it returns None to let the attempt go on, or the outcome that ends it. The
first that answers ends the attempt (apps.delivery.attempts runs them).

Before the start is counted (`BEFORE_START`):
1. `no_row`: the delivery does not exist (deleted?): skipped, missing.
2. `leased_elsewhere`: another run holds its lease (a redelivery, a second send), or the
   batch named it twice: a duplicate.
3. `deleted_since_leased`: it was deleted between taking the lease and loading it.
4. `already_finished`: it is delivered or dead already: a duplicate.
Then attempts moves a copy that came through another queue than its subscription's to
the right queue's lease, and counts the start.

After the start is counted (`AFTER_START`):
5. `expired`: its message's TTL has passed: a dead letter, reason expired.
6. `no_handler`: its Python subscription names a handler this worker has not registered
   (removed or renamed in a deploy, or saved behind the validator's back): a dead letter,
   reason no_handler, at once — no retry can help and the handler never ran.
7. `worker_lost`: it started more times than its subscription's max attempts, each start
   unrecorded: its worker died every time (a poison message): a dead letter, reason
   worker_lost.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils import timezone

from apps.core import consumers, redis_keys
from apps.deadletters.models import DeadLetterReason
from apps.delivery import outcomes
from apps.delivery.models import OPEN_STATES, Delivery
from apps.topology.models import ConsumerKind

logger = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One delivery of a batch, as the guards see it."""

    delivery_id: int
    # The queue its task came through, its subscription's; None when it has no row.
    queue: str | None
    # Its start number when the batch holds its lease (0 until counted), else None.
    start: int | None
    # The delivery with its message and subscription, loaded after the lease was taken.
    delivery: Delivery | None

    @property
    def attempt(self) -> int:
        """Number this attempt: the starts counted, or one past the attempts recorded if more."""
        assert self.delivery is not None
        return max(self.start or 0, self.delivery.attempts + 1)


Guard = Callable[[Candidate], str | None]


def first_outcome(guards: Sequence[Guard], candidate: Candidate) -> str | None:
    """Run the guards in order; return the outcome of the first that ends the attempt, else None."""
    for guard in guards:
        outcome = guard(candidate)
        if outcome is not None:
            return outcome
    return None


def no_row(candidate: Candidate) -> str | None:
    if candidate.queue is None:
        logger.warning("Delivery %s does not exist (deleted?); skipping it.", candidate.delivery_id)
        return outcomes.MISSING
    return None


def leased_elsewhere(candidate: Candidate) -> str | None:
    if candidate.start is None:
        assert candidate.queue is not None
        logger.info("Delivery %s is running elsewhere; skipping this copy.", candidate.delivery_id)
        return outcomes.duplicate(redis_keys.subscription_of_queue(candidate.queue))
    return None


def deleted_since_leased(candidate: Candidate) -> str | None:
    if candidate.delivery is None:
        logger.warning("Delivery %s does not exist (deleted?); skipping it.", candidate.delivery_id)
        return outcomes.MISSING
    return None


def already_finished(candidate: Candidate) -> str | None:
    delivery = candidate.delivery
    assert delivery is not None
    if delivery.state not in OPEN_STATES:
        logger.info("Delivery %s is %s already; skipping the duplicate.", delivery.pk, delivery.state)
        return outcomes.duplicate(delivery.subscription.name)
    return None


def expired(candidate: Candidate) -> str | None:
    delivery = candidate.delivery
    assert delivery is not None
    expires_at = delivery.message.expires_at
    if expires_at is None or timezone.now() < expires_at:
        return None
    error = f"The message expired at {expires_at.isoformat()} before it could be delivered."
    return outcomes.dead(delivery=delivery, reason=DeadLetterReason.EXPIRED, attempts=delivery.attempts, error=error)


def no_handler(candidate: Candidate) -> str | None:
    delivery = candidate.delivery
    assert delivery is not None
    subscription = delivery.subscription
    if subscription.consumer_kind != ConsumerKind.PYTHON or consumers.consumer_exists(subscription.handler):
        return None
    known = ", ".join(consumers.consumer_names()) or "none"
    error = (
        f"No consumer is registered as {subscription.handler!r} in this worker (registered: {known}); "
        f"fix subscription {subscription.name}'s handler or deploy the consumer, then replay."
    )
    logger.error("Delivery %s: %s", delivery.pk, error)
    return outcomes.dead(delivery=delivery, reason=DeadLetterReason.NO_HANDLER, attempts=delivery.attempts, error=error)


def worker_lost(candidate: Candidate) -> str | None:
    delivery = candidate.delivery
    assert delivery is not None
    attempt = candidate.attempt
    max_attempts = delivery.subscription.max_attempts
    if attempt <= max_attempts:
        return None
    lost = attempt - 1 - delivery.attempts
    error = (
        f"The worker running this delivery died (SIGKILL, out of memory or a crash) {lost} time(s); "
        f"{attempt - 1} attempt(s) of at most {max_attempts} were used."
    )
    if delivery.last_error:
        error += f"\nLast recorded error:\n{delivery.last_error}"
    return outcomes.dead(delivery=delivery, reason=DeadLetterReason.WORKER_LOST, attempts=attempt - 1, error=error)


BEFORE_START: tuple[Guard, ...] = (no_row, leased_elsewhere, deleted_since_leased, already_finished)
AFTER_START: tuple[Guard, ...] = (expired, no_handler, worker_lost)
