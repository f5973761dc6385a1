"""Raw Dramatiq, the other peer: its Redis broker and one actor doing the handler work.

Workers run `dramatiq bench.raw_dramatiq -p 2` with Dramatiq's default threads (8 per
process). Dramatiq acknowledges after the actor returns, like acks_late.
"""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench import workload

QUEUE = workload.RAW_DRAMATIQ_QUEUE


class ReadyMarker(dramatiq.Middleware):
    """Count each worker process in once it has booted and consumes."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        workload.mark_ready()


broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))
broker.add_middleware(ReadyMarker())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def raw_handle(payload: dict[str, object], published_at: float) -> None:
    workload.handle(published_at)
