"""Find the consumer of a subscription, and what its handler receives.

A Python subscription names a handler registered with @consumer (apps.core.consumers);
a webhook subscription is handled by a POST to its URL (apps.delivery.webhooks).
"""

from celery.exceptions import SoftTimeLimitExceeded

from apps.core.consumers import Consumer, ReceivedMessage, consumer_get
from apps.core.errors import RetryableError
from apps.delivery import webhooks
from apps.delivery.models import Delivery
from apps.topology.models import ConsumerKind, Subscription


def consumer_for(subscription: Subscription) -> Consumer:
    """Return what handles the subscription's messages: a webhook POST or a Python handler.

    A webhook's effect is outside Switchboard's database, so it cannot commit with the
    delivery's state: it is delivered at least once (receivers deduplicate by webhook-id).
    Raise UnknownConsumerError when no handler is registered under the subscription's name.
    """
    if subscription.consumer_kind == ConsumerKind.WEBHOOK:
        return Consumer(
            name=subscription.name,
            handler=lambda message: webhooks.webhook_deliver(subscription=subscription, message=message),
            transactional=False,
            retry_for=(RetryableError,),
        )
    return consumer_get(subscription.handler)


def retryable_errors(consumer: Consumer) -> tuple[type[BaseException], ...]:
    """Name the errors worth another attempt: the consumer's own, and running out of time."""
    return (*consumer.retry_for, SoftTimeLimitExceeded)


def received_message(delivery: Delivery, *, attempt: int) -> ReceivedMessage:
    """Describe the delivery's message as its handler receives it on `attempt`."""
    message = delivery.message
    return ReceivedMessage(
        id=str(message.id),
        topic=message.topic.name,
        payload=message.payload,
        attributes=message.attributes,
        key=message.key,
        published_at=message.published_at,
        subscription=delivery.subscription.name,
        attempt=attempt,
    )
