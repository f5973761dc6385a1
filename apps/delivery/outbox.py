"""The transactional outbox: send committed deliveries to Redis, and sweep what was left.

A delivery row is inserted unsent (`sent_at` null) in the publisher's transaction. Right
after that commits the publisher sends it (the fast path, `outbox_send_after_commit`);
what it cannot send (Redis down or full, a crash in between) stays unsent, and the
relay's sweep (`outbox_sweep`) sends it. Each sender claims rows before sending, so no
row is sent twice by two of them. A delivery goes to its subscription's queue, or to the
delay schedule when it is not due yet.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.delivery import broker, ledger, scheduler
from apps.delivery import tasks as delivery_tasks
from apps.topology import selectors as topology_selectors

logger = logging.getLogger(__name__)

# What sending to Redis raises when Redis is down, full (OOM) or unreachable.
BROKER_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


@dataclass(frozen=True)
class OutboxEntry:
    delivery_id: int
    queue: str
    batch_size: int
    not_before: datetime | None


def outbox_send_after_commit(entries: list[OutboxEntry]) -> None:
    """Send these deliveries, just inserted, once the current transaction commits."""
    transaction.on_commit(lambda: _send_after_commit(entries))


def _send_after_commit(entries: list[OutboxEntry]) -> None:
    try:
        outbox_send_committed(entries)
    except BROKER_ERRORS as exc:
        # The publish stands: the deliveries wait in the outbox for the relay.
        logger.warning("Cannot reach Redis (%s); %s deliveries wait in the outbox.", exc, len(entries))


def outbox_send_committed(entries: list[OutboxEntry]) -> int:
    """Send deliveries this process has just committed to the outbox (the fast path); return how many.

    It claims the rows (`ledger.deliveries_claim_unsent`), sends what it claimed, and
    commits; a failed send rolls the claim back, so the rows stay in the outbox for the
    relay. This is `outbox_send_unsent`'s lock-then-send without reading back rows whose
    queue and due time the caller already knows.
    """
    if not entries:
        return 0
    now = timezone.now()
    with transaction.atomic():
        claimed = ledger.deliveries_claim_unsent(delivery_ids=[e.delivery_id for e in entries], now=now)
        taken = [e for e in entries if e.delivery_id in claimed]
        _send(taken, now)
    return len(taken)


def outbox_send_unsent(
    *, delivery_ids: list[int] | None = None, created_before: datetime | None = None, limit: int = 500
) -> int:
    """Lock unsent deliveries (these ids, or the oldest ones), send them and mark them sent.

    Only rows still unsent are taken, and rows another sender holds are skipped:
    whichever sender comes first sends a row, the others skip it, so the publisher's
    fast path, relays and replays never send one twice. Return how many were sent.
    """
    if delivery_ids is not None:
        limit = len(delivery_ids)
    with transaction.atomic():
        taken = ledger.deliveries_lock_unsent(delivery_ids=delivery_ids, created_before=created_before, limit=limit)
        entries = [OutboxEntry(pk, redis_keys.subscription_queue(name), size, due) for pk, name, size, due in taken]
        if entries:
            now = timezone.now()
            _send(entries, now)
            ledger.deliveries_mark_sent(delivery_ids=[e.delivery_id for e in entries], now=now)
    return len(taken)


def outbox_sweep(*, limit: int = 500, grace_seconds: float = 1.0) -> int:
    """Send deliveries left in the outbox (fast path failed, or its process died); return how many.

    Rows younger than `grace_seconds` are left to the publisher's fast path.
    """
    return outbox_send_unsent(created_before=timezone.now() - timedelta(seconds=grace_seconds), limit=limit)


def _send(entries: list[OutboxEntry], now: datetime) -> None:
    """Send entries to Redis: due ones to their queues, later ones to the delay schedule."""
    if not entries:
        return
    due_now = [e for e in entries if e.not_before is None or e.not_before <= now]
    later = [e for e in entries if e.not_before is not None and e.not_before > now]
    if later:
        scheduler.schedule(
            redis_client(),
            [(scheduler.ScheduledDelivery(e.queue, e.delivery_id), e.not_before.timestamp()) for e in later],  # type: ignore[union-attr]
        )
    if due_now:
        deliveries_send(
            [scheduler.ScheduledDelivery(e.queue, e.delivery_id) for e in due_now],
            batch_sizes={e.queue: e.batch_size for e in due_now},
        )


def deliveries_send(
    entries: Iterable[scheduler.ScheduledDelivery], *, batch_sizes: dict[str, int] | None = None
) -> None:
    """Send deliveries to their queues in one round trip to the broker.

    A subscription with batch_size > 1 gets one task per up to batch_size of its
    deliveries. The broker client tries once and never waits to retry: while Redis is
    away a publish still answers at once. If the round trip fails, which of the tasks
    reached Redis is unknown, so the caller keeps them all unsent (the outbox) or claimed
    (the schedule): at least once, never lost.
    """
    per_queue: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        per_queue[entry.queue].append(entry.delivery_id)
    if batch_sizes is None:
        batch_sizes = topology_selectors.subscription_batch_sizes()
    tasks = _delivery_tasks(per_queue, batch_sizes, trace=broker.trace_headers())
    broker.tasks_push(broker.sender_client(), tasks)


def _delivery_tasks(
    per_queue: dict[str, list[int]], batch_sizes: dict[str, int], *, trace: dict[str, Any]
) -> Iterator[tuple[str, bytes]]:
    """Yield (queue, task message): a deliver task per delivery, or a deliver_batch per chunk.

    Each carries `trace`, the Sentry trace of the sender (the publish, on the fast path).
    """
    for queue, ids in per_queue.items():
        size = batch_sizes.get(queue, 1)
        if size <= 1:
            for delivery_id in ids:
                yield queue, broker.task_message(task=DELIVER, args=(delivery_id,), queue=queue, trace=trace)
            continue
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            yield queue, broker.task_message(task=DELIVER_BATCH, args=(chunk,), queue=queue, trace=trace)


DELIVER = delivery_tasks.deliver.name
DELIVER_BATCH = delivery_tasks.deliver_batch.name
