"""Count what one publish and one delivery cost: SQL queries and Redis commands.

    python -m bench.diagnose sb_per_message|sb_batched   (with bench.settings, no worker running)

Runs Switchboard's services in this process, as the publisher and a worker would:
publish() (or publish_many() of one batch), then delivery_attempt (or
delivery_attempt_batch, with the queue the task came from) on what was published. Celery's own part (fetching the task,
acknowledging it, task events) is not in these counts; the drain's Redis command counts
in latest.json include it.
"""

import json
import sys
from collections.abc import Callable
from typing import Any

import django

BATCH = 50


def _measure(action: Callable[[], object]) -> tuple[object, dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench import workload

    redis = workload.client()
    redis.config_resetstat()
    with CaptureQueriesContext(connection) as queries:
        result = action()
    stats: dict[str, Any] = redis.info("commandstats")  # type: ignore[assignment]
    commands = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    commands.pop("config|resetstat", None)
    commands.pop("config", None)
    return result, {
        "queries": len(queries.captured_queries),
        "sql": [q["sql"][:300] for q in queries.captured_queries],
        "redis_commands": commands,
    }


def main(argv: list[str]) -> int:
    django.setup()
    from apps.delivery import attempts as delivery_attempts
    from apps.delivery.models import Delivery
    from apps.publishing import services
    from apps.publishing.models import Message
    from bench import switchboard_consumers, workload
    from bench.producer import TOPICS
    from bench.systems import SWITCHBOARD_QUEUES

    assert switchboard_consumers.CONSUMER_NAME  # imported to register the bench consumer
    system = argv[0]
    topic = TOPICS[system]
    queue = SWITCHBOARD_QUEUES[system]  # as a worker passes it: the queue its task came from
    workload.client().flushall()
    # Warm up once (connections, lazy imports, the compiled filter policy) so the counts are the steady ones.
    warm = services.publish(topic=topic, payload=workload.PAYLOAD)
    delivery_attempts.delivery_attempt(delivery_id=Delivery.objects.get(message=warm).pk)
    if system == "sb_per_message":
        message, publish_cost = _measure(lambda: services.publish(topic=topic, payload=workload.PAYLOAD))
        delivery_id = Delivery.objects.get(message=message).pk  # type: ignore[misc]
        _, deliver_cost = _measure(lambda: delivery_attempts.delivery_attempt(delivery_id=delivery_id, queue=queue))
        per = 1
    else:
        items = [{"payload": workload.PAYLOAD}] * BATCH
        results, publish_cost = _measure(lambda: services.publish_many(topic=topic, messages=items))
        messages = [m for m in results if isinstance(m, Message)]  # type: ignore[attr-defined]
        ids = list(Delivery.objects.filter(message__in=messages).values_list("pk", flat=True))
        _, deliver_cost = _measure(lambda: delivery_attempts.delivery_attempt_batch(delivery_ids=ids, queue=queue))
        per = BATCH
    workload.client().flushall()
    print(json.dumps({"messages": per, "publish": publish_cost, "deliver": deliver_cost}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
