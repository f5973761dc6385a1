"""Read topics and subscriptions."""

from apps.topology.models import Subscription, Topic


def topic_get(*, name: str) -> Topic | None:
    return Topic.objects.filter(name=name).first()


def subscriptions_for_topic(*, topic_id: int) -> list[Subscription]:
    return list(Subscription.objects.filter(topic_id=topic_id))


def subscription_queues() -> list[str]:
    """Name every subscription's queue, for workers that consume them all."""
    return [s.queue for s in Subscription.objects.only("name")]


def subscription_batch_sizes() -> dict[str, int]:
    """Map each subscription's queue to its batch size."""
    return {s.queue: s.batch_size for s in Subscription.objects.only("name", "batch_size")}
