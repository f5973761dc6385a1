"""Fixtures of the publishing tests."""

import pytest

from apps.topology.models import Topic
from tests.factories import SubscriptionFactory, TopicFactory


@pytest.fixture
def orders_topic() -> Topic:
    """Create `orders.created` with the two demo subscriptions."""
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="inventory-reserve", topic=topic, handler="inventory-reserve")
    SubscriptionFactory.create(name="billing-charge", topic=topic, handler="billing-charge")
    return topic
