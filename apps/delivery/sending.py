"""Route messages to subscriptions and send the resulting deliveries to their queues."""

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from uuid import UUID

import orjson
import redis
from django.db import connection, transaction
from django.utils import timezone

from apps.core.redis import redis_client
from apps.core.sql import rows_insert
from apps.deadletters import services as deadletter_services
from apps.delivery import counters, scheduler, task_messages
from apps.delivery import tasks as delivery_tasks
from apps.delivery.models import Delivery, DeliveryState
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


def deliveries_create(*, messages: list[Message], not_before: datetime | None = None) -> list["CreatedDelivery"]:
    """Create a delivery per (message, subscription whose filter matches) in the outbox.

    After commit they are sent at once (the fast path); whatever that cannot send (Redis
    down or full, a crash) stays in the outbox for the relay's sweep. A message that no
    subscription takes is unroutable: it is counted, and kept as a dead letter when its
    topic says so.
    """
    subscriptions: dict[int, list[Subscription]] = {}
    matched: list[tuple[Message, Subscription, datetime | None]] = []
    unroutable: list[Message] = []
    for message in messages:
        if message.topic_id not in subscriptions:
            subscriptions[message.topic_id] = topology_selectors.subscriptions_for_topic(topic_id=message.topic_id)
        due = not_before or message.deliver_at
        routed = [(message, s, due) for s in subscriptions[message.topic_id] if _matches(s, message)]
        if not routed:
            unroutable.append(message)
        matched += routed
    ids = _deliveries_insert(matched)
    if unroutable:
        _unroutable(unroutable)
    outgoing = [OutboxEntry(pk, s.queue, s.batch_size, due) for pk, (_, s, due) in zip(ids, matched, strict=True)]
    transaction.on_commit(lambda: _send_after_commit(outgoing))
    return [CreatedDelivery(pk, m.pk) for pk, (m, _, _) in zip(ids, matched, strict=True)]


@dataclass(frozen=True)
class CreatedDelivery:
    pk: int
    message_id: UUID


_DELIVERY_COLUMNS = (
    "message_id", "subscription_id", "state", "attempts", "last_error", "created_at", "updated_at", "not_before",
)  # fmt: skip


def _deliveries_insert(rows: list[tuple[Message, Subscription, datetime | None]]) -> list[int]:
    """Insert pending deliveries, (message, subscription, not before) each; return their ids in order.

    `Delivery.objects.bulk_create` in SQL written once per row count: on the publish
    path, Django preparing each field of each row took longer than the INSERT.
    """
    if not rows:
        return []
    ops = connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    message_pk = Message._meta.get_field("id")
    values = [
        [
            message_pk.get_db_prep_value(message.pk, connection),
            subscription.pk,
            DeliveryState.PENDING.value,
            0,
            "",
            now,
            now,
            None if due is None else ops.adapt_datetimefield_value(due),
        ]
        for message, subscription, due in rows
    ]
    return rows_insert(Delivery._meta.db_table, _DELIVERY_COLUMNS, values, returning="id")


@dataclass(frozen=True)
class OutboxEntry:
    delivery_id: int
    queue: str
    batch_size: int
    not_before: datetime | None


# What sending to Redis raises when Redis is down, full (OOM) or unreachable.
BROKER_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


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
    task_messages.tasks_push(task_messages.sender_client(), _delivery_tasks(per_queue, batch_sizes))


def _delivery_tasks(per_queue: dict[str, list[int]], batch_sizes: dict[str, int]) -> Iterator[tuple[str, bytes]]:
    """Yield (queue, task message): a deliver task per delivery, or a deliver_batch per chunk."""
    for queue, ids in per_queue.items():
        size = batch_sizes.get(queue, 1)
        if size <= 1:
            for delivery_id in ids:
                yield queue, task_messages.task_message(task=DELIVER, args=(delivery_id,), queue=queue)
            continue
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            yield queue, task_messages.task_message(task=DELIVER_BATCH, args=(chunk,), queue=queue)


DELIVER = delivery_tasks.deliver.name
DELIVER_BATCH = delivery_tasks.deliver_batch.name
