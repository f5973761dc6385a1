"""The benchmark's Switchboard consumer, loaded into workers with `--include`.

    celery -A project worker --include bench.switchboard_consumers -Q sb.bench-per-message

Importing this module registers `bench-counter` with Switchboard's registry (the
@consumer decorator fills it at import), so no Django app is needed. The consumer is
transactional, Switchboard's default: the handler runs in the same database
transaction that records the delivery as delivered.
"""

from celery.signals import worker_ready

from apps.core.consumers import ReceivedMessage, consumer
from bench import workload

CONSUMER_NAME = "bench-counter"


@consumer(CONSUMER_NAME)
def bench_counter(message: ReceivedMessage) -> None:
    workload.handle(message.published_at.timestamp())


@worker_ready.connect
def _ready(**kwargs: object) -> None:
    workload.mark_ready()
