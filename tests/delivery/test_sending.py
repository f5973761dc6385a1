"""Routing at publish time: filter policies choose the deliveries; unroutable messages are
counted and, per topic, kept as dead letters."""

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import counters, tasks
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from apps.publishing.services import publish, publish_many
from apps.topology.models import UnroutablePolicy
from tests.factories import SubscriptionFactory, TopicFactory


@pytest.mark.django_db
@pytest.mark.parametrize(("policy", "dead_letters"), [(UnroutablePolicy.DEAD_LETTER, 1), (UnroutablePolicy.DROP, 0)])
def test_unroutable_message_is_counted_and_kept_as_the_topic_says(
    private_redis: str, django_capture_on_commit_callbacks: Any, policy: str, dead_letters: int
) -> None:
    topic = TopicFactory.create(name="orders.created", unroutable=policy)
    SubscriptionFactory.create(name="eu-vat", topic=topic, handler="eu-vat", filter_policy={"region": ["eu"]})

    with django_capture_on_commit_callbacks(execute=True):
        message = publish(topic="orders.created", payload={"order_id": "1"}, attributes={"region": "us"})

    assert Delivery.objects.filter(message=message).count() == 0
    assert (
        list(DeadLetter.objects.values_list("message_id", "reason", "subscription"))
        == [(message.id, DeadLetterReason.UNROUTABLE, None)] * dead_letters
    )
    assert counters.counters_read() == {counters.unroutable("orders.created"): 1}


@pytest.mark.django_db
def test_matching_subscriptions_get_a_delivery_each_and_the_rest_none(private_redis: str) -> None:
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="eu-vat", topic=topic, handler="eu-vat", filter_policy={"region": ["eu"]})
    SubscriptionFactory.create(name="inventory-reserve", topic=topic, handler="inventory-reserve")
    SubscriptionFactory.create(
        name="big-orders",
        topic=topic,
        handler="billing-charge",
        filter_policy={"payload.total": [{"numeric": [">", 100]}]},
    )

    eu_small = publish(topic="orders.created", payload={"total": 5}, attributes={"region": "eu"})
    us_big = publish(topic="orders.created", payload={"total": 500}, attributes={"region": "us"})

    routed = {
        m.id: sorted(Delivery.objects.filter(message=m).values_list("subscription__name", flat=True))
        for m in (eu_small, us_big)
    }
    assert routed == {eu_small.id: ["eu-vat", "inventory-reserve"], us_big.id: ["big-orders", "inventory-reserve"]}
    assert DeadLetter.objects.count() == 0


@pytest.mark.django_db
def test_a_publish_while_the_broker_is_unreachable_answers_without_waiting_to_retry(
    private_redis: str, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker here is a closed port (test settings). A retrying client (kombu's, or
    redis-py's default) would connect again and again, sleeping in between; the sender
    connects once and leaves the delivery in the outbox for the relay."""
    import redis.connection

    connects: list[int] = []
    connect = redis.connection.Connection._connect

    def counted_connect(self: redis.connection.Connection) -> Any:
        connects.append(self.port)
        return connect(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counted_connect)
    SubscriptionFactory.create(name="inventory-reserve", topic=TopicFactory.create(name="orders.created"))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = publish(topic="orders.created", payload={"order_id": "1"})

    broker_port = urlsplit(str(tasks.deliver.app.conf.broker_url)).port
    assert connects == [broker_port]
    assert len(callbacks) == 2  # the send (it failed) and the count of the publish (metrics)
    assert list(Delivery.objects.filter(message=message).values_list("sent_at", flat=True)) == [None]


@pytest.mark.django_db
def test_deliveries_are_inserted_as_the_orm_would_create_them_in_order_across_chunks(
    private_redis: str,
) -> None:
    """400 deliveries take several INSERTs on SQLite (999 parameters each); each row reads back whole."""
    topic = TopicFactory.create(name="orders.created")
    subscriptions = [
        SubscriptionFactory.create(name=f"s{n}", topic=topic, handler="inventory-reserve") for n in range(2)
    ]
    later = timezone.now() + timedelta(hours=1)

    results = publish_many(
        topic="orders.created", messages=[{"payload": {"n": n}, "deliver_at": later} for n in range(200)]
    )

    messages = [result for result in results if isinstance(result, Message)]
    assert len(messages) == len(results)
    deliveries = list(Delivery.objects.order_by("pk"))
    assert [(d.message_id, d.subscription_id) for d in deliveries] == [
        (message.pk, subscription.pk) for message in messages for subscription in subscriptions
    ]
    assert {(d.state, d.attempts, d.last_error, d.finished_at, d.replayed_from_id) for d in deliveries} == {
        (DeliveryState.PENDING, 0, "", None, None)
    }
    assert {d.not_before for d in deliveries} == {later}
    assert len({d.created_at for d in deliveries}) == 1
    assert deliveries[0].created_at == deliveries[0].updated_at
