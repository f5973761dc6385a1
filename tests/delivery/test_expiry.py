"""The expiry sweep: open deliveries past their TTL become dead letters; running and finished ones are left."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import expiry, scheduler
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.services import publish
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriptions() -> None:
    topic = TopicFactory.create(name="orders")
    SubscriptionFactory.create(name="billing", topic=topic)
    SubscriptionFactory.create(name="inventory", topic=topic)


def test_expired_open_deliveries_become_dead_letters_and_leave_the_schedule(
    subscriptions: None, private_redis: str
) -> None:
    message = publish(topic="orders", payload={}, ttl_seconds=1, delay_seconds=60)
    fresh = publish(topic="orders", payload={}, ttl_seconds=600)
    rds = redis_client()
    billing, inventory = message.deliveries.order_by("subscription__name")
    scheduler.schedule(rds, [(scheduler.ScheduledDelivery("sb.billing", billing.pk), 1e10)])
    # inventory's attempt is running: it holds the lease; its attempt's guard decides.
    rds.zadd(redis_keys.RUNNING, {scheduler.ScheduledDelivery("sb.inventory", inventory.pk).encode(): 1e10})

    expired = expiry.deliveries_expire(now=timezone.now() + timedelta(seconds=2))

    assert expired == 1
    assert dict(Delivery.objects.filter(message=message).values_list("subscription__name", "state")) == {
        "billing": DeliveryState.DEAD,
        "inventory": DeliveryState.PENDING,
    }
    dead_letter = DeadLetter.objects.get()
    assert (dead_letter.delivery_id, dead_letter.reason, dead_letter.attempts) == (
        billing.pk,
        DeadLetterReason.EXPIRED,
        0,
    )
    assert rds.zcard(redis_keys.SCHEDULED) == 0
    assert set(fresh.deliveries.values_list("state", flat=True)) == {DeliveryState.PENDING}
    assert expiry.deliveries_expire(now=timezone.now() + timedelta(seconds=2)) == 0
