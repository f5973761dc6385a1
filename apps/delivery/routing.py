"""Route published messages: which subscriptions each reaches, as deliveries in the outbox.

A message reaches every subscription of its topic whose filter policy matches
(apps.topology.filter_policy). Its deliveries are inserted in the caller's transaction
and sent after it commits (apps.delivery.outbox). A message that no subscription takes
is unroutable: it is counted, and kept as a dead letter when its topic says so.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from uuid import UUID

import orjson
from django.db import transaction

from apps.delivery import counters, ledger, outbox
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors
from apps.topology.filter_policy import CompiledFilterPolicy, FilterPolicyError, compile_filter_policy
from apps.topology.models import Subscription, UnroutablePolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedDelivery:
    pk: int
    message_id: UUID


def deliveries_create(*, messages: list[Message], not_before: datetime | None = None) -> list[CreatedDelivery]:
    """Create a delivery per (message, subscription whose filter matches) in the outbox.

    After commit they are sent at once (the fast path); whatever that cannot send (Redis
    down or full, a crash) stays in the outbox for the relay's sweep.
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
    ids = ledger.deliveries_insert(rows=matched)
    if unroutable:
        _unroutable(unroutable)
    outbox.outbox_send_after_commit(
        [outbox.OutboxEntry(pk, s.queue, s.batch_size, due) for pk, (_, s, due) in zip(ids, matched, strict=True)]
    )
    return [CreatedDelivery(pk, m.pk) for pk, (m, _, _) in zip(ids, matched, strict=True)]


@lru_cache(maxsize=1024)
def _compiled_policy(policy_json: bytes) -> CompiledFilterPolicy:
    """Compile each distinct policy once per process (it was validated when loaded)."""
    return compile_filter_policy(orjson.loads(policy_json))


def _matches(subscription: Subscription, message: Message) -> bool:
    """Say whether the message passes the subscription's filter policy.

    Every way in validates a policy before saving it (apps.topology.validation); one
    written behind its back (a shell, raw SQL) must not fail the publish: it matches
    nothing, and says so in the log.
    """
    if not subscription.filter_policy:
        return True
    try:
        policy = _compiled_policy(orjson.dumps(subscription.filter_policy, option=orjson.OPT_SORT_KEYS))
    except FilterPolicyError as exc:
        logger.error("Subscription %s has an invalid filter policy and receives nothing: %s", subscription.name, exc)
        return False
    return policy.matches(attributes=message.attributes, payload=message.payload)


def _unroutable(messages: list[Message]) -> None:
    kept = [m for m in messages if m.topic.unroutable == UnroutablePolicy.DEAD_LETTER]
    if kept:
        ledger.dead_letters_unroutable(messages=kept)
    per_topic: dict[str, int] = defaultdict(int)
    for message in messages:
        per_topic[message.topic.name] += 1
    logger.info("Unroutable messages (no subscription matched): %s", dict(per_topic))

    def count() -> None:
        for topic, n in per_topic.items():
            counters.count(counters.unroutable(topic), n)

    transaction.on_commit(count)
