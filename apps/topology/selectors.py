"""Read topics and subscriptions."""

from apps.topology.models import Subscription, Topic


def topic_get(*, name: str) -> Topic | None:
    return Topic.objects.filter(name=name).first()


def subscriptions_for_topic(*, topic_id: int) -> list[Subscription]:
    return list(Subscription.objects.filter(topic_id=topic_id))


def subscription_queues(*, paused: bool | None = None) -> list[str]:
    """Name the queues of all subscriptions, or of the paused (True) or active (False) ones."""
    subscriptions = Subscription.objects.only("name")
    if paused is not None:
        subscriptions = subscriptions.filter(paused=paused)
    return [s.queue for s in subscriptions]


def subscription_get(*, name: str) -> Subscription | None:
    return Subscription.objects.select_related("topic").filter(name=name).first()


def subscription_batch_sizes() -> dict[str, int]:
    """Map each subscription's queue to its batch size."""
    return {s.queue: s.batch_size for s in Subscription.objects.only("name", "batch_size")}
