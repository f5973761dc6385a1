"""Tests for apps.topology.services.topology_sync: make the database match the spec."""

import dataclasses
from typing import Any

import pytest

from apps.delivery.models import Delivery
from apps.publishing.models import Message
from apps.topology.loader import SubscriptionSpec, TopicSpec, TopologySpec
from apps.topology.models import Subscription, Topic
from apps.topology.services import SyncReport, TopologyPruneError, topology_sync
from tests.factories import DeliveryFactory, MessageFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

ORDERS = TopicSpec(name="orders.created", description="An order was placed.")
RESERVE = SubscriptionSpec(name="inventory-reserve", topic="orders.created", handler="inventory-reserve")
CHARGE = SubscriptionSpec(
    name="billing-charge",
    topic="orders.created",
    handler="billing-charge",
    filter_policy={"region": ["eu"]},
    max_attempts=3,
    retry_initial_delay=0.5,
    retry_multiplier=1.5,
    retry_max_delay=5.0,
    retry_jitter=0.0,
)
SPEC = TopologySpec(topics=[ORDERS], subscriptions=[RESERVE, CHARGE])


def snapshot() -> tuple[list[Any], list[Any]]:
    """Return every topic and subscription row, to compare before and after."""
    return list(Topic.objects.order_by("pk").values()), list(Subscription.objects.order_by("pk").values())


def test_first_sync_creates_everything_as_declared() -> None:
    report = topology_sync(spec=SPEC)

    assert report == SyncReport(
        created=["topic orders.created", "subscription inventory-reserve", "subscription billing-charge"]
    )
    topic = Topic.objects.get()
    assert (topic.name, topic.description) == ("orders.created", "An order was placed.")
    charge = Subscription.objects.get(name="billing-charge")
    assert charge.topic == topic
    assert (charge.consumer_kind, charge.handler, charge.webhook_url) == ("python", "billing-charge", "")
    assert charge.filter_policy == {"region": ["eu"]}
    assert (charge.batch_size, charge.paused, charge.max_attempts) == (1, False, 3)
    assert (charge.retry_initial_delay, charge.retry_multiplier, charge.retry_max_delay, charge.retry_jitter) == (
        0.5,
        1.5,
        5.0,
        0.0,
    )
    assert Subscription.objects.get(name="inventory-reserve").max_attempts == 5


def test_second_sync_of_the_same_spec_changes_nothing() -> None:
    topology_sync(spec=SPEC)
    before = snapshot()

    report = topology_sync(spec=SPEC)

    assert report == SyncReport(
        unchanged=["topic orders.created", "subscription inventory-reserve", "subscription billing-charge"]
    )
    assert snapshot() == before


def test_changed_entries_are_updated_and_the_rest_unchanged() -> None:
    topology_sync(spec=SPEC)
    changed = dataclasses.replace(CHARGE, max_attempts=7, paused=True, filter_policy={})
    described = dataclasses.replace(ORDERS, description="Placed orders.")

    report = topology_sync(spec=TopologySpec(topics=[described], subscriptions=[RESERVE, changed]), apply_paused=True)

    assert report == SyncReport(
        updated=["topic orders.created", "subscription billing-charge"],
        unchanged=["subscription inventory-reserve"],
    )
    charge = Subscription.objects.get(name="billing-charge")
    assert (charge.max_attempts, charge.paused, charge.filter_policy) == (7, True, {})
    assert Topic.objects.get().description == "Placed orders."


def test_subscription_moves_to_another_topic() -> None:
    topology_sync(spec=SPEC)
    shipped = TopicSpec(name="orders.shipped")
    moved = dataclasses.replace(RESERVE, topic="orders.shipped")

    report = topology_sync(spec=TopologySpec(topics=[ORDERS, shipped], subscriptions=[moved, CHARGE]))

    assert report.created == ["topic orders.shipped"]
    assert report.updated == ["subscription inventory-reserve"]
    assert Subscription.objects.get(name="inventory-reserve").topic.name == "orders.shipped"


def test_entries_not_declared_are_reported_and_kept() -> None:
    topology_sync(spec=SPEC)
    SubscriptionFactory.create(name="legacy-audit", topic=TopicFactory.create(name="legacy.events"))

    report = topology_sync(spec=SPEC)

    assert report.not_declared == ["subscription legacy-audit", "topic legacy.events"]
    assert report.deleted == []
    assert Subscription.objects.filter(name="legacy-audit").count() == 1
    assert Topic.objects.filter(name="legacy.events").count() == 1


def test_prune_deletes_undeclared_entries_and_their_deliveries() -> None:
    topology_sync(spec=SPEC)
    orders = Topic.objects.get(name="orders.created")
    legacy_on_orders = SubscriptionFactory.create(name="legacy-reserve", topic=orders)
    DeliveryFactory.create_batch(2, subscription=legacy_on_orders, message__topic=orders)
    SubscriptionFactory.create(name="legacy-audit", topic=TopicFactory.create(name="legacy.events"))

    report = topology_sync(spec=SPEC, prune=True)

    assert report.deleted == ["subscription legacy-audit", "subscription legacy-reserve", "topic legacy.events"]
    assert report.not_declared == []
    assert sorted(Subscription.objects.values_list("name", flat=True)) == ["billing-charge", "inventory-reserve"]
    assert list(Topic.objects.values_list("name", flat=True)) == ["orders.created"]
    assert Delivery.objects.count() == 0
    assert Message.objects.count() == 2


def test_prune_refuses_a_topic_with_messages_and_changes_nothing() -> None:
    topology_sync(spec=SPEC)
    legacy = TopicFactory.create(name="legacy.events")
    SubscriptionFactory.create(name="legacy-audit", topic=legacy)
    MessageFactory.create(topic=legacy)
    before = snapshot()
    more = TopologySpec(
        topics=[ORDERS, TopicSpec(name="orders.shipped")],
        subscriptions=[dataclasses.replace(RESERVE, max_attempts=9), CHARGE],
    )

    with pytest.raises(TopologyPruneError, match=r"^topic legacy.events still has messages; it cannot be deleted$"):
        topology_sync(spec=more, prune=True)

    assert snapshot() == before
    assert Topic.objects.filter(name="orders.shipped").count() == 0
    assert Subscription.objects.get(name="inventory-reserve").max_attempts == 5
    assert Subscription.objects.filter(name="legacy-audit").count() == 1


def test_a_sync_never_changes_a_runtime_pause_without_apply_paused() -> None:
    topology_sync(spec=SPEC)
    Subscription.objects.filter(name="billing-charge").update(paused=True)  # paused by an operator
    declared_active = dataclasses.replace(CHARGE, paused=False)

    first = topology_sync(spec=SPEC)  # the entry does not say
    second = topology_sync(spec=TopologySpec(topics=[ORDERS], subscriptions=[RESERVE, declared_active]))

    assert (
        first.unchanged
        == second.unchanged
        == [
            "topic orders.created",
            "subscription inventory-reserve",
            "subscription billing-charge",
        ]
    )
    assert Subscription.objects.get(name="billing-charge").paused is True


def test_apply_paused_sets_only_the_pauses_the_file_declares() -> None:
    topology_sync(spec=SPEC)
    Subscription.objects.update(paused=True)
    declared_active = dataclasses.replace(CHARGE, paused=False)

    report = topology_sync(
        spec=TopologySpec(topics=[ORDERS], subscriptions=[RESERVE, declared_active]), apply_paused=True
    )

    assert report.updated == ["subscription billing-charge"]
    assert dict(Subscription.objects.values_list("name", "paused")) == {
        "billing-charge": False,
        "inventory-reserve": True,  # its entry does not set `paused`
    }


def test_a_new_subscription_starts_paused_when_its_entry_says_so() -> None:
    topology_sync(spec=TopologySpec(topics=[ORDERS], subscriptions=[RESERVE, dataclasses.replace(CHARGE, paused=True)]))

    assert dict(Subscription.objects.values_list("name", "paused")) == {
        "billing-charge": True,
        "inventory-reserve": False,
    }
