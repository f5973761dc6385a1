"""The ledger: every write of a delivery, each move of its state a small named function.

Nothing else writes a `Delivery` (tests/delivery/test_ledger.py checks the source of
apps/). The moves follow `models.TRANSITIONS`: each UPDATE names the states it may start
from, so a move that lost a race (another attempt finished the delivery first, a replay
reset it) changes nothing, and its function says so by returning False (or a count).

| function | state | what |
|---|---|---|
| `deliveries_insert` | → pending | routing's deliveries, in the outbox |
| `deliveries_claim_unsent` | (any) | the publisher's fast path claims what it will send |
| `deliveries_lock_unsent` | (any) | a sweep or replay locks unsent rows to send them |
| `deliveries_mark_sent` | (any) | what `deliveries_lock_unsent` took was sent |
| `deliveries_mark_unsent` | open | sent but lost in transit: back to the outbox |
| `deliveries_mark_all_unsent` | open | Redis restarted: every sent open delivery again |
| `delivery_mark_delivered` | open → delivered | the handler succeeded |
| `delivery_mark_retrying` | open → retrying | a retryable failure; the retry is scheduled |
| `delivery_mark_dead` | open → dead | no attempt left, with its dead letter |
| `delivery_mark_cancelled` | open → cancelled | an operator cancelled its message before it ran |
| `deliveries_reset_for_replay` | dead → pending | a replay starts them afresh |
| `deliveries_link_replayed` | (none) | rerouted deliveries name their dead letter |
| `dead_letters_unroutable` | (none) | messages no subscription took, as dead letters |

The hot paths (insert, claim, delivered) run SQL written once per process: on them,
Django compiling a query took longer than the database running it.

The moves to delivered, retrying and dead are counted here, once their transaction
commits (`switchboard_deliveries_total`, apps.core.telemetry): the count is the
ledger's own, and a move rolled back with its handler's writes is not counted.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.core import telemetry
from apps.core.sql import rows_insert
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import INITIAL_STATE, OPEN_STATES, Delivery, DeliveryState, states_before
from apps.publishing.models import Message
from apps.topology.models import Subscription

_DELIVERY_COLUMNS = (
    "message_id", "subscription_id", "state", "attempts", "last_error", "created_at", "updated_at", "not_before",
    "expires_at",
)  # fmt: skip


def deliveries_insert(*, rows: Sequence[tuple[Message, Subscription, datetime | None]]) -> list[int]:
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
            INITIAL_STATE.value,
            0,
            "",
            now,
            now,
            None if due is None else ops.adapt_datetimefield_value(due),
            None if message.expires_at is None else ops.adapt_datetimefield_value(message.expires_at),
        ]
        for message, subscription, due in rows
    ]
    return rows_insert(Delivery._meta.db_table, _DELIVERY_COLUMNS, values, returning="id")


def deliveries_claim_unsent(*, delivery_ids: list[int], now: datetime) -> set[int]:
    """Mark these deliveries sent if they are not yet; return the ids this call marked.

    Call it inside the transaction that sends them, so that a failed send rolls the claim
    back. One `UPDATE ... WHERE sent_at IS NULL RETURNING id`: it takes the rows' locks
    (SQLite: the write lock), so a row another sender holds or has sent is not returned.
    On PostgreSQL the transaction's commit does not wait for its WAL flush (one fsync
    per publish saved): if a server crash loses the claim, the rows are unsent again and
    are sent once more; the copy that finds its delivery finished is skipped and counted.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            _claim_unsent_sql(len(delivery_ids)), [connection.ops.adapt_datetimefield_value(now), *delivery_ids]
        )
        return {row[0] for row in cursor.fetchall()}


def _claim_unsent_sql(count: int) -> str:
    table = connection.ops.quote_name(Delivery._meta.db_table)
    placeholders = ", ".join(["%s"] * count)
    return f"UPDATE {table} SET sent_at = %s WHERE id IN ({placeholders}) AND sent_at IS NULL RETURNING id"  # noqa: S608 - no user input: a table name and placeholders


def deliveries_lock_unsent(
    *, delivery_ids: list[int] | None, created_before: datetime | None, limit: int
) -> list[tuple[int, str, int, datetime | None]]:
    """Lock unsent deliveries (these ids, or the oldest ones); return (id, subscription, batch size, not before) each.

    Call it in the transaction that sends them and marks them sent. Rows another sender
    holds locked are skipped (SQLite serialises writers instead), so whichever sender
    comes first sends a row and the others skip it.
    """
    rows = Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(sent_at__isnull=True)
    if delivery_ids is not None:
        rows = rows.filter(pk__in=delivery_ids)
    if created_before is not None:
        rows = rows.filter(created_at__lt=created_before)
    fields = ("pk", "subscription__name", "subscription__batch_size", "not_before", "retry_at")
    return [
        (pk, subscription, batch_size, max((t for t in (not_before, retry_at) if t is not None), default=None))
        for pk, subscription, batch_size, not_before, retry_at in rows.order_by("created_at").values_list(*fields)[
            :limit
        ]
    ]


def deliveries_mark_sent(*, delivery_ids: list[int], now: datetime) -> int:
    """Record that these deliveries (locked by `deliveries_lock_unsent`) reached Redis."""
    return Delivery.objects.filter(pk__in=delivery_ids).update(sent_at=now)


def deliveries_mark_unsent(*, delivery_ids: list[int]) -> int:
    """Put these deliveries back in the outbox if they are still open; return how many went back."""
    return Delivery.objects.filter(pk__in=delivery_ids, state__in=OPEN_STATES).update(sent_at=None)


def deliveries_mark_all_unsent() -> int:
    """Put every open delivery that was sent back in the outbox; return how many."""
    return Delivery.objects.filter(state__in=OPEN_STATES, sent_at__isnull=False).update(sent_at=None)


def delivery_mark_delivered(*, delivery_id: int, subscription: str, attempt: int) -> bool:
    """Record the delivery (of `subscription`) delivered by `attempt`, unless another attempt finished it first.

    `Delivery.objects.filter(pk=..., state__in=...).update(...)` in SQL written once.
    """
    finished_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _mark_delivered_sql(), [DeliveryState.DELIVERED.value, attempt, "", finished_at, delivery_id, *_DELIVERABLE]
        )
        updated = bool(cursor.rowcount)
    if updated:
        telemetry.count_on_commit(telemetry.outcome_field(subscription, telemetry.DELIVERED))
    return updated


_DELIVERABLE = [state.value for state in states_before(DeliveryState.DELIVERED)]


@cache
def _mark_delivered_sql() -> str:
    q = connection.ops.quote_name
    table = q(Delivery._meta.db_table)
    states = ", ".join(["%s"] * len(_DELIVERABLE))
    return (
        f"UPDATE {table} SET {q('state')} = %s, {q('attempts')} = %s, {q('last_error')} = %s,"  # noqa: S608 - no input
        f" {q('finished_at')} = %s WHERE {q('id')} = %s AND {q('state')} IN ({states})"
    )


def delivery_mark_retrying(*, delivery_id: int, subscription: str, attempt: int, error: str, due: datetime) -> bool:
    """Record a failed attempt that will be retried at `due`, unless another attempt finished the delivery first.

    `due` goes to `retry_at`: the next attempt's latency is measured from it, and a
    resend from the outbox (Redis restarted) schedules the retry for then again.
    """
    updated = Delivery.objects.filter(pk=delivery_id, state__in=states_before(DeliveryState.RETRYING)).update(
        state=DeliveryState.RETRYING, attempts=attempt, last_error=error, retry_at=due
    )
    if updated:
        telemetry.count_on_commit(telemetry.outcome_field(subscription, telemetry.RETRIED))
    return bool(updated)


def delivery_mark_dead(*, delivery: Delivery, reason: DeadLetterReason, attempts: int, error: str) -> bool:
    """Mark the delivery dead and keep it as a dead letter, in one transaction.

    Return False, writing nothing, if another attempt finished it first.
    """
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, state__in=states_before(DeliveryState.DEAD)).update(
            state=DeliveryState.DEAD, attempts=attempts, last_error=error, finished_at=timezone.now()
        )
        if not updated:
            return False
        message = delivery.message
        DeadLetter.objects.create(
            message=message,
            delivery=delivery,
            subscription=delivery.subscription,
            topic=message.topic.name,
            reason=reason,
            attempts=attempts,
            last_error=error,
            payload=message.payload,
            attributes=message.attributes,
        )
        telemetry.count_on_commit(telemetry.outcome_field(delivery.subscription.name, telemetry.DEAD))
    return True


def delivery_mark_cancelled(*, delivery_id: int) -> bool:
    """Cancel a delivery that is still open; return False, changing nothing, if it finished first.

    A running attempt that tries to record its outcome afterwards finds the delivery
    finished and changes nothing (a transactional handler's writes roll back with it).
    """
    updated = Delivery.objects.filter(pk=delivery_id, state__in=states_before(DeliveryState.CANCELLED)).update(
        state=DeliveryState.CANCELLED, finished_at=timezone.now()
    )
    return bool(updated)


def dead_letters_unroutable(*, messages: list[Message]) -> list[DeadLetter]:
    """Keep messages that no subscription matched as dead letters (they have no delivery)."""
    return DeadLetter.objects.bulk_create(
        DeadLetter(
            message=message,
            topic=message.topic.name,
            reason=DeadLetterReason.UNROUTABLE,
            payload=message.payload,
            attributes=message.attributes,
        )
        for message in messages
    )


def deliveries_reset_for_replay(
    *, dead_letters: list[DeadLetter], due: Mapping[datetime, list[int]], now: datetime
) -> int:
    """Start the dead deliveries of these dead letters afresh: pending, no attempts, unsent, due as `due` says.

    Each links to the dead letter it is replayed from. `due` maps each due time to its
    deliveries: one UPDATE per due time, and one for what they all share. Return how
    many deliveries were reset (a delivery no longer dead is left alone).
    """
    delivery_ids = [dl.delivery_id for dl in dead_letters if dl.delivery_id is not None]
    replayed_from = DeadLetter.objects.filter(pk__in=[dl.pk for dl in dead_letters], delivery_id=OuterRef("pk"))
    reset = Delivery.objects.filter(pk__in=delivery_ids, state__in=states_before(DeliveryState.PENDING)).update(
        state=DeliveryState.PENDING,
        attempts=0,
        last_error="",
        finished_at=None,
        sent_at=None,
        retry_at=None,
        updated_at=now,
        replayed_from=Subquery(replayed_from.values("pk")[:1]),
    )
    for due_at, ids in due.items():
        Delivery.objects.filter(pk__in=ids).update(not_before=due_at)
    return reset


def deliveries_link_replayed(*, links: Mapping[int, DeadLetter]) -> None:
    """Link new deliveries, by id, to the dead letter they were routed again from."""
    Delivery.objects.bulk_update(
        [Delivery(pk=pk, replayed_from=dead_letter) for pk, dead_letter in links.items()], ["replayed_from"]
    )
