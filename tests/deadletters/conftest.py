"""Fixtures for the dead-letter tests: the demo topic and its two subscriptions."""

import pytest

from apps.topology.models import Subscription, Topic
from tests.factories import SubscriptionFactory, TopicFactory


@pytest.fixture
def orders() -> Topic:
    return TopicFactory.create(name="orders.created")


@pytest.fixture
def billing(orders: Topic) -> Subscription:
    return SubscriptionFactory.create(name="billing-charge", topic=orders, handler="billing-charge")


@pytest.fixture
def inventory(orders: Topic) -> Subscription:
    return SubscriptionFactory.create(name="inventory-reserve", topic=orders, handler="inventory-reserve")
