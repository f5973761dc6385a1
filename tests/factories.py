"""factory-boy factories for Switchboard's models."""

import factory
from django.utils import timezone

from apps.delivery.models import Delivery
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic


class TopicFactory(factory.django.DjangoModelFactory[Topic]):
    class Meta:
        model = Topic
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"topic-{n}")
    description = ""


class SubscriptionFactory(factory.django.DjangoModelFactory[Subscription]):
    class Meta:
        model = Subscription

    name = factory.Sequence(lambda n: f"subscription-{n}")
    topic = factory.SubFactory(TopicFactory)
    handler = "inventory-reserve"


class MessageFactory(factory.django.DjangoModelFactory[Message]):
    class Meta:
        model = Message

    topic = factory.SubFactory(TopicFactory)
    payload = factory.LazyFunction(lambda: {"order_id": "o-1"})
    attributes = factory.LazyFunction(dict)
    key = ""
    published_at = factory.LazyFunction(timezone.now)


class DeliveryFactory(factory.django.DjangoModelFactory[Delivery]):
    class Meta:
        model = Delivery

    message = factory.SubFactory(MessageFactory)
    subscription = factory.SubFactory(SubscriptionFactory, topic=factory.SelfAttribute("..message.topic"))
