"""Each worker node says, every few seconds, which queues it consumes (`switchboard_consumers`).

A step of the Celery consumer (registered in project/celery.py) writes the node's
queues and the time into the hash `redis_keys.CONSUMERS`, at start and every
HEARTBEAT_SECONDS, from the worker's own timer. A pause (cancel_consumer) or resume
shows within one interval; a node that stops cleanly removes its entry, one killed stops
beating and is no longer counted after apps.monitoring.figures.CONSUMER_STALE_SECONDS.
Asking the workers at scrape time (`inspect().active_queues()`) would make every scrape
wait for the slowest worker's reply.
"""

import logging
import time
from typing import Any

import orjson
import redis
from celery import bootsteps
from celery.worker.consumer.tasks import Tasks

from apps.core import redis_keys
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0


def heartbeat_write(client: redis.Redis, *, node: str, queues: list[str], processes: int) -> None:
    """Record that `node` consumes `queues` now."""
    beat = {"queues": sorted(queues), "at": time.time(), "processes": processes}
    client.hset(redis_keys.CONSUMERS, node, orjson.dumps(beat).decode())


def heartbeat_remove(client: redis.Redis, *, node: str) -> None:
    client.hdel(redis_keys.CONSUMERS, node)


class ConsumersHeartbeat(bootsteps.StartStopStep):
    """The consumer step that beats; it starts after the task consumer, whose queues it reads."""

    requires = (Tasks,)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        self.tref: Any = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        self._beat(c)
        self.tref = c.timer.call_repeatedly(HEARTBEAT_SECONDS, self._beat, (c,))

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        try:
            heartbeat_remove(redis_client(), node=c.hostname)
        except redis.RedisError as exc:
            logger.warning("Cannot remove this worker's consumer heartbeat (%s).", exc)

    shutdown = stop

    def _beat(self, c: Any) -> None:
        consumer = getattr(c, "task_consumer", None)
        queues = [queue.name for queue in consumer.queues] if consumer is not None else []
        try:
            heartbeat_write(
                redis_client(),
                node=c.hostname,
                queues=queues,
                processes=int(getattr(c.pool, "num_processes", None) or 1),
            )
        except (redis.RedisError, AttributeError) as exc:
            logger.warning("Cannot write this worker's consumer heartbeat (%s).", exc)
