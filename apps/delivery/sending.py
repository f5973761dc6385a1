"""Route messages to subscriptions and send the resulting deliveries to their queues."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

import orjson
from django.db import transaction

from apps.core.redis import redis_client
from apps.deadletters import services as deadletter_services
from apps.delivery import scheduler
from apps.delivery import tasks as delivery_tasks
from apps.delivery.models import Delivery
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors
from apps.topology.filter_policy import CompiledFilterPolicy, compile_filter_policy
from apps.topology.models import Subscription, UnroutablePolicy

logger = logging.getLogger(__name__)

COUNTERS_KEY = "sb:counters"


@lru_cache(maxsize=1024)
def _compiled_policy(policy_json: bytes) -> CompiledFilterPolicy:
    """Compile each distinct policy once per process (it was validated when loaded)."""
    return compile_filter_policy(orjson.loads(policy_json))


def _matches(subscription: Subscription, message: Message) -> bool:
    if not subscription.filter_policy:
        return True
    policy = _compiled_policy(orjson.dumps(subscription.filter_policy, option=orjson.OPT_SORT_KEYS))
    return policy.matches(attributes=message.attributes, payload=message.payload)


def deliveries_create(*, messages: list[Message]) -> list[Delivery]:
    """Create a delivery per (message, subscription whose filter matches); send them after commit.

    A message that no subscription takes is unroutable: it is counted, and kept as a dead
    letter when its topic says so.
    """
    subscriptions: dict[int, list[Subscription]] = {}
    deliveries: list[Delivery] = []
    unroutable: list[Message] = []
    for message in messages:
        if message.topic_id not in subscriptions:
            subscriptions[message.topic_id] = topology_selectors.subscriptions_for_topic(topic_id=message.topic_id)
        matched = [
            Delivery(message=message, subscription=s) for s in subscriptions[message.topic_id] if _matches(s, message)
        ]
        if not matched:
            unroutable.append(message)
        deliveries += matched
    Delivery.objects.bulk_create(deliveries)
    if unroutable:
        _unroutable(unroutable)
    batch_sizes = {s.queue: s.batch_size for subs in subscriptions.values() for s in subs}
    queued = [scheduler.ScheduledDelivery(queue=d.subscription.queue, delivery_id=d.pk) for d in deliveries]
    transaction.on_commit(lambda: deliveries_send(queued, batch_sizes=batch_sizes))
    return deliveries


def _unroutable(messages: list[Message]) -> None:
    kept = [m for m in messages if m.topic.unroutable == UnroutablePolicy.DEAD_LETTER]
    if kept:
        deadletter_services.dead_letters_unroutable(messages=kept)
    per_topic: dict[str, int] = defaultdict(int)
    for message in messages:
        per_topic[message.topic.name] += 1
    logger.info("Unroutable messages (no subscription matched): %s", dict(per_topic))

    def count() -> None:
        pipe = redis_client().pipeline(transaction=False)
        for topic, n in per_topic.items():
            pipe.hincrby(COUNTERS_KEY, f"unroutable:{topic}", n)
        pipe.execute()

    transaction.on_commit(count)


def deliveries_send(
    entries: Iterable[scheduler.ScheduledDelivery], *, batch_sizes: dict[str, int] | None = None
) -> None:
    """Send deliveries to their queues over one broker connection, batched per subscription.

    A subscription with batch_size > 1 gets one task per up to batch_size of its deliveries.
    """
    per_queue: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        per_queue[entry.queue].append(entry.delivery_id)
    if batch_sizes is None:
        batch_sizes = topology_selectors.subscription_batch_sizes()
    with delivery_tasks.deliver.app.producer_or_acquire() as producer:
        for queue, ids in per_queue.items():
            size = batch_sizes.get(queue, 1)
            if size <= 1:
                for delivery_id in ids:
                    delivery_tasks.deliver.apply_async(args=(delivery_id,), queue=queue, producer=producer)
                continue
            for start in range(0, len(ids), size):
                chunk = ids[start : start + size]
                delivery_tasks.deliver_batch.apply_async(args=(chunk,), queue=queue, producer=producer)


def scheduled_deliveries_relay(*, limit: int = 500) -> int:
    """Send every due scheduled delivery to its queue; return how many were sent."""
    client = redis_client()
    due = scheduler.claim_due(client, limit=limit)
    if due:
        deliveries_send(due)
        scheduler.release(client, due)
    return len(due)
