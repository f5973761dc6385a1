import pytest

from apps.topology.models import Subscription, Topic
from tests.factories import SubscriptionFactory, TopicFactory


@pytest.fixture
def billing(db: None) -> Subscription:
    topic: Topic = TopicFactory.create(name="orders.created")
    return SubscriptionFactory.create(name="billing-charge", topic=topic, handler="billing-charge")
