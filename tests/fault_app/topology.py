"""The topic and subscription the fault drills publish to, served by `fault-reserve` alone."""

from apps.core import redis_keys
from apps.topology.models import ConsumerKind, Subscription, Topic

TOPIC = "faults.test"
SUBSCRIPTION = "fault-reserve"
QUEUE = redis_keys.subscription_queue(SUBSCRIPTION)


def fault_subscription_create(*, max_attempts: int = 5, batch_size: int = 1) -> Subscription:
    """Create the test topic and its one subscription, with retry waits short enough for tests."""
    topic = Topic.objects.create(name=TOPIC)
    return Subscription.objects.create(
        name=SUBSCRIPTION,
        topic=topic,
        consumer_kind=ConsumerKind.PYTHON,
        handler=SUBSCRIPTION,
        max_attempts=max_attempts,
        retry_initial_delay=0.2,
        retry_multiplier=1.0,
        retry_max_delay=0.2,
        retry_jitter=0.0,
        batch_size=batch_size,
    )
