"""factory-boy factories for Switchboard's models."""

import factory
from django.utils import timezone

from apps.deadletters.models import DeadLetter, DeadLetterReason
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


class DeadLetterFactory(factory.django.DjangoModelFactory[DeadLetter]):
    """A dead letter of a delivery, holding its message's topic, payload and attributes as the ledger does."""

    class Meta:
        model = DeadLetter

    delivery = factory.SubFactory(DeliveryFactory)
    message = factory.SelfAttribute("delivery.message")
    subscription = factory.SelfAttribute("delivery.subscription")
    topic = factory.LazyAttribute(lambda dl: dl.message.topic.name)
    reason = DeadLetterReason.EXHAUSTED
    payload = factory.LazyAttribute(lambda dl: dl.message.payload)
    attributes = factory.LazyAttribute(lambda dl: dl.message.attributes)
