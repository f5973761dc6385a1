"""Route messages to subscriptions and send the resulting deliveries to their queues."""

import contextlib
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import kombu
import kombu.exceptions
import kombu.pools
import orjson
import redis
from django.db import connection, transaction
from django.utils import timezone

from apps.core.redis import redis_client
from apps.deadletters import services as deadletter_services
from apps.delivery import counters, scheduler
from apps.delivery import tasks as delivery_tasks
from apps.delivery.models import Delivery
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors
from apps.topology.filter_policy import CompiledFilterPolicy, compile_filter_policy
from apps.topology.models import Subscription, UnroutablePolicy, subscription_queue

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1024)
def _compiled_policy(policy_json: bytes) -> CompiledFilterPolicy:
    """Compile each distinct policy once per process (it was validated when loaded)."""
    return compile_filter_policy(orjson.loads(policy_json))


def _matches(subscription: Subscription, message: Message) -> bool:
    if not subscription.filter_policy:
        return True
    policy = _compiled_policy(orjson.dumps(subscription.filter_policy, option=orjson.OPT_SORT_KEYS))
    return policy.matches(attributes=message.attributes, payload=message.payload)


def deliveries_create(*, messages: list[Message], not_before: datetime | None = None) -> list[Delivery]:
    """Create a delivery per (message, subscription whose filter matches) in the outbox.

    After commit they are sent at once (the fast path); whatever that cannot send (Redis
    down or full, a crash) stays in the outbox for the relay's sweep. A message that no
    subscription takes is unroutable: it is counted, and kept as a dead letter when its
    topic says so.
    """
    subscriptions: dict[int, list[Subscription]] = {}
    deliveries: list[Delivery] = []
    unroutable: list[Message] = []
    for message in messages:
        if message.topic_id not in subscriptions:
            subscriptions[message.topic_id] = topology_selectors.subscriptions_for_topic(topic_id=message.topic_id)
        matched = [
            Delivery(message=message, subscription=s, not_before=not_before or message.deliver_at)
            for s in subscriptions[message.topic_id]
            if _matches(s, message)
        ]
        if not matched:
            unroutable.append(message)
        deliveries += matched
    Delivery.objects.bulk_create(deliveries)
    if unroutable:
        _unroutable(unroutable)
    outgoing = [OutboxEntry(d.pk, d.subscription.queue, d.subscription.batch_size, d.not_before) for d in deliveries]
    transaction.on_commit(lambda: _send_after_commit(outgoing))
    return deliveries


@dataclass(frozen=True)
class OutboxEntry:
    delivery_id: int
    queue: str
    batch_size: int
    not_before: datetime | None


# What sending to Redis raises when Redis is down, full (OOM) or unreachable.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    redis.RedisError,
    kombu.exceptions.OperationalError,
    kombu.exceptions.BatchPublishError,  # type: ignore[attr-defined] # kombu 5.7, not in its stubs
    OSError,
)


def _send_after_commit(entries: list[OutboxEntry]) -> None:
    try:
        outbox_send_committed(entries)
    except BROKER_ERRORS as exc:
        # The publish stands: the deliveries wait in the outbox for the relay.
        logger.warning("Cannot reach Redis (%s); %s deliveries wait in the outbox.", exc, len(entries))


def outbox_send_committed(entries: list[OutboxEntry]) -> int:
    """Send deliveries this process has just committed to the outbox (the fast path); return how many.

    It claims the rows with one `UPDATE ... SET sent_at WHERE sent_at IS NULL RETURNING
    id`, sends what it claimed, and commits; a failed send rolls the claim back, so the
    rows stay in the outbox for the relay. The UPDATE takes the rows' locks (SQLite: the
    write lock), so this is `outbox_send_unsent`'s lock-then-send without reading back
    rows whose queue and due time the caller already knows: a row another sender holds
    or has sent is not returned, and is not sent twice.
    """
    if not entries:
        return 0
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The claim need not wait for its WAL flush (one fsync per publish saved): if
            # a server crash loses it, the rows are unsent again and the relay sends them
            # once more; the copy that finds its delivery finished is skipped and counted.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        claimed = _claim_unsent([e.delivery_id for e in entries], now)
        taken = [e for e in entries if e.delivery_id in claimed]
        _send(taken, now)
    return len(taken)


def _claim_unsent(delivery_ids: list[int], now: datetime) -> set[int]:
    """Mark these deliveries sent if they are not yet; return the ids this call marked."""
    table = connection.ops.quote_name(Delivery._meta.db_table)
    placeholders = ", ".join(["%s"] * len(delivery_ids))
    sql = f"UPDATE {table} SET sent_at = %s WHERE id IN ({placeholders}) AND sent_at IS NULL RETURNING id"  # noqa: S608 - no user input: a table name and placeholders
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(now), *delivery_ids])
        return {row[0] for row in cursor.fetchall()}


def outbox_send(entries: list[OutboxEntry]) -> None:
    """Send outbox entries to Redis (queue, or delay schedule), then mark them sent.

    Call it with the rows locked (see `outbox_send_unsent`), or two senders may both
    send them.
    """
    if not entries:
        return
    now = timezone.now()
    _send(entries, now)
    Delivery.objects.filter(pk__in=[e.delivery_id for e in entries]).update(sent_at=now)


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


def outbox_send_unsent(
    *, delivery_ids: list[int] | None = None, created_before: datetime | None = None, limit: int = 500
) -> int:
    """Lock unsent deliveries (these ids, or the oldest ones), send them and mark them sent.

    Rows are locked and rows locked by another sender are skipped (SQLite serialises
    writers instead), and only rows still unsent are taken: whichever sender comes first
    sends a row, the others skip it, so the publisher's fast path, relays and replays
    never send one twice. Return how many were sent.
    """
    rows = Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(sent_at__isnull=True)
    if delivery_ids is not None:
        rows = rows.filter(pk__in=delivery_ids)
        limit = len(delivery_ids)
    if created_before is not None:
        rows = rows.filter(created_at__lt=created_before)
    with transaction.atomic():
        taken = list(
            rows.order_by("created_at").values_list(
                "pk", "subscription__name", "subscription__batch_size", "not_before"
            )[:limit]
        )
        outbox_send([OutboxEntry(pk, subscription_queue(name), size, due) for pk, name, size, due in taken])
    return len(taken)


def outbox_sweep(*, limit: int = 500, grace_seconds: float = 1.0) -> int:
    """Send deliveries left in the outbox (fast path failed, or its process died); return how many.

    Rows younger than `grace_seconds` are left to the publisher's fast path.
    """
    return outbox_send_unsent(created_before=timezone.now() - timedelta(seconds=grace_seconds), limit=limit)


def _unroutable(messages: list[Message]) -> None:
    kept = [m for m in messages if m.topic.unroutable == UnroutablePolicy.DEAD_LETTER]
    if kept:
        deadletter_services.dead_letters_unroutable(messages=kept)
    per_topic: dict[str, int] = defaultdict(int)
    for message in messages:
        per_topic[message.topic.name] += 1
    logger.info("Unroutable messages (no subscription matched): %s", dict(per_topic))

    def count() -> None:
        for topic, n in per_topic.items():
            counters.count(counters.unroutable(topic), n)

    transaction.on_commit(count)


_sender_connections: dict[int, kombu.Connection] = {}


def _sender_connection() -> kombu.Connection:
    """Return this process's broker connection for sending deliveries.

    It tries to connect once and never waits to retry (kombu's default retries for ~6 s on
    every send): whatever cannot be sent stays in the outbox or the schedule, and the
    relay tries again, so while Redis is away a publish still answers at once. One per
    process id, so a forked process never shares its parent's sockets.
    """
    pid = os.getpid()
    if pid not in _sender_connections:
        app = delivery_tasks.deliver.app
        # No retry of a timed-out command either: kombu then pipelines a batch of sends
        # (one round trip), which it refuses to do when a pipeline could be replayed.
        options = {**app.conf.broker_transport_options, "max_retries": 0, "retry_on_timeout": False}
        _sender_connections[pid] = app.connection_for_write(transport_options=options)
    return _sender_connections[pid]


# Sending never retries (the outbox does), and carries no time limits: Celery would put
# the sender's into the message, overriding the worker's own, which it checked at
# start-up against its visibility timeout.
SEND_OPTIONS: dict[str, Any] = {"retry": False, "time_limit": None, "soft_time_limit": None}


def deliveries_send(
    entries: Iterable[scheduler.ScheduledDelivery], *, batch_sizes: dict[str, int] | None = None
) -> None:
    """Send deliveries to their queues over one broker connection, in one pipeline.

    A subscription with batch_size > 1 gets one task per up to batch_size of its
    deliveries. kombu buffers the LPUSHes and sends them in one round trip at the end;
    if that fails, which of them reached Redis is unknown, so the caller keeps them all
    unsent (the outbox) or claimed (the schedule): at least once, never lost.
    """
    per_queue: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        per_queue[entry.queue].append(entry.delivery_id)
    if batch_sizes is None:
        batch_sizes = topology_selectors.subscription_batch_sizes()
    tasks = sum(len(ids) if batch_sizes.get(queue, 1) <= 1 else 1 for queue, ids in per_queue.items())
    with (
        kombu.pools.producers[_sender_connection()].acquire(block=True) as producer,
        producer.batch() if tasks > 1 else contextlib.nullcontext(),
    ):
        _publish(producer, per_queue, batch_sizes)


def _publish(producer: kombu.Producer, per_queue: dict[str, list[int]], batch_sizes: dict[str, int]) -> None:
    for queue, ids in per_queue.items():
        size = batch_sizes.get(queue, 1)
        if size <= 1:
            for delivery_id in ids:
                delivery_tasks.deliver.apply_async(args=(delivery_id,), queue=queue, producer=producer, **SEND_OPTIONS)
            continue
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            delivery_tasks.deliver_batch.apply_async(args=(chunk,), queue=queue, producer=producer, **SEND_OPTIONS)
