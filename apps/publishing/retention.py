"""Retention of published messages and of idempotency keys (registered in PublishingConfig.ready).

A message goes with its deliveries and their attempts once it is finished and old: it
was published more than its topic's `retention_days` ago (default
SWITCHBOARD_RETENTION_DAYS), no delivery of it is open (pending, retrying, delayed) or
finished within that time, and it has no dead letter (dead letters keep their message
for their own, longer retention; see apps.deadletters.retention). The topic and
`published_at` index serves the age; the deliveries' (message, subscription) and the
dead letters' message indexes serve the rest.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.core.retention import RetentionPolicy, retention_register
from apps.deadletters.models import DeadLetter
from apps.delivery.models import OPEN_STATES, Delivery
from apps.publishing.models import IdempotencyKey, Message
from apps.topology.models import Topic


def messages_due(now: datetime) -> "QuerySet[Message]":
    """The finished messages past their topic's retention at `now`."""
    default_days = settings.SWITCHBOARD_RETENTION_DAYS
    topics_by_days: dict[int, list[int]] = defaultdict(list)
    for topic_id, days in Topic.objects.values_list("pk", "retention_days"):
        topics_by_days[days or default_days].append(topic_id)
    old = Q(pk__in=[])
    for days, topic_ids in topics_by_days.items():
        cutoff = now - timedelta(days=days)
        finished_lately = Delivery.objects.filter(message=OuterRef("pk"), finished_at__gte=cutoff)
        old |= Q(topic_id__in=topic_ids, published_at__lt=cutoff) & ~Q(Exists(finished_lately))
    open_deliveries = Delivery.objects.filter(message=OuterRef("pk"), state__in=OPEN_STATES)
    dead_letters = DeadLetter.objects.filter(message=OuterRef("pk"))
    return Message.objects.filter(old).exclude(Exists(open_deliveries)).exclude(Exists(dead_letters)).order_by()


def idempotency_keys_due(now: datetime) -> "QuerySet[IdempotencyKey]":
    """The idempotency keys that expired by `now` (their `expires_at` index)."""
    return IdempotencyKey.objects.filter(expires_at__lte=now).order_by()


def retention_policies_register() -> None:
    retention_register(
        RetentionPolicy(
            name="messages",
            model=Message,
            due=messages_due,
            description="finished messages (with their deliveries and attempts) past their topic's retention",
        )
    )
    retention_register(
        RetentionPolicy(
            name="idempotency-keys",
            model=IdempotencyKey,
            due=idempotency_keys_due,
            description="expired idempotency keys",
            chunk_size=1000,
        )
    )
