"""Tests for apps.publishing.tail: what `message tail` shows between two polls."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.tail import SubscriptionTail, TopicTail
from apps.topology.models import Subscription, Topic
from tests.factories import DeliveryFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_a_topic_tail_shows_new_messages_then_how_their_deliveries_end(orders_topic: Topic) -> None:
    MessageFactory.create(topic=orders_topic, published_at=timezone.now() - timedelta(minutes=1))  # before: not shown
    tail = TopicTail(orders_topic)
    message = MessageFactory.create(topic=orders_topic, key="c-1", published_at=timezone.now() + timedelta(seconds=1))
    billing = Subscription.objects.get(name="billing-charge")
    delivery = DeliveryFactory.create(message=message, subscription=billing)

    first = list(tail.poll())
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.DELIVERED, attempts=1, finished_at=timezone.now() + timedelta(seconds=2)
    )
    second = list(tail.poll())
    third = list(tail.poll())

    assert [(e.event, e.message_id, e.detail) for e in first] == [("published", str(message.pk), "key=c-1")]
    assert [(e.event, e.subscription, e.attempts) for e in second] == [("delivered", "billing-charge", 1)]
    assert third == []
    assert second[0].as_dict()["subscription"] == "billing-charge"


def test_a_subscription_tail_shows_retries_and_outcomes(orders_topic: Topic) -> None:
    billing = Subscription.objects.get(name="billing-charge")
    retrying, dead = (DeliveryFactory.create(message__topic=orders_topic, subscription=billing) for _ in range(2))
    tail = SubscriptionTail(billing)
    later = timezone.now() + timedelta(seconds=1)
    Delivery.objects.filter(pk=retrying.pk).update(
        state=DeliveryState.RETRYING, attempts=1, last_error="Traceback\nTimeoutError: slow", updated_at=later
    )
    Delivery.objects.filter(pk=dead.pk).update(state=DeliveryState.DEAD, attempts=5, finished_at=later)

    events = sorted((e.event, e.message_id, e.attempts, e.detail) for e in tail.poll())

    assert events == sorted(
        [
            ("retrying", str(retrying.message_id), 1, "TimeoutError: slow"),
            ("dead", str(dead.message_id), 5, ""),
        ]
    )
    assert list(tail.poll()) == []  # each change is shown once
