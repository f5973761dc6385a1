"""Read the state of delivery queues in Redis."""

from apps.core.redis import redis_client


def queue_depths(*, queues: list[str]) -> dict[str, int]:
    """Count the messages waiting in each queue (not those a worker holds unacknowledged)."""
    pipe = redis_client().pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
    return dict(zip(queues, (int(n) for n in pipe.execute()), strict=True))
