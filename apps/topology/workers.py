"""Worker control: the queues a `celery worker` consumes follow the subscriptions' `paused` flags.

The database flag is the one truth. Each worker reconciles with it every
SWITCHBOARD_PAUSE_RECONCILE_SECONDS (`queues_reconcile`, run by a consumer bootstep
in the worker's event loop, see project/celery.py): it stops consuming the queue of a
subscription paused since, starts consuming the queue of one resumed or created since,
and drops the queue of one deleted. So a pause takes effect within seconds however the
flag changed (API, admin action or form, command, `sync_topology --apply-paused`, a
shell), also in a worker that restarted or lost Redis meanwhile, and a new
subscription is consumed without restarting workers. The broadcast the pause and
resume services send (`workers_stop_consuming`, `workers_start_consuming`) only makes
running workers follow at once; when it cannot reach Redis, nothing is lost.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import django.db
import kombu.exceptions
import redis
from celery import current_app

from apps.core import redis_keys
from apps.topology import selectors as topology_selectors

logger = logging.getLogger(__name__)

# What a control broadcast raises when Redis is unreachable.
CONTROL_ERRORS: tuple[type[BaseException], ...] = (kombu.exceptions.OperationalError, redis.RedisError, OSError)

# The queues the operator chose with -Q when the worker started (None: every subscription).
_chosen_queues: frozenset[str] | None = None


def consume_subscription_queues(queues: object) -> list[str]:
    """Choose what a starting worker consumes: every active subscription's queue.

    A worker started with -Q keeps the operator's choice (e.g. one subscription per
    worker pool) less the paused subscriptions, and keeps following that choice as
    subscriptions are paused and resumed. A worker without -Q serves every active
    subscription, those created later included.
    """
    global _chosen_queues
    paused = set(topology_selectors.subscription_queues(paused=True))
    chosen = queues._consume_from  # type: ignore[attr-defined]
    if chosen is not None:
        _chosen_queues = frozenset(name for name in chosen if _is_subscription_queue(name))
        skipped = sorted(paused & set(chosen))
        if skipped:
            queues.deselect(skipped)  # type: ignore[attr-defined]
            logger.info("Not consuming paused subscription queues: %s", ", ".join(skipped))
        return sorted(set(chosen) - paused)
    _chosen_queues = None
    names = topology_selectors.subscription_queues(paused=False)
    for name in names:
        queues.select_add(name)  # type: ignore[attr-defined]
    logger.info("Consuming %s subscription queues: %s", len(names), ", ".join(names))
    return names


@dataclass(frozen=True)
class QueueChanges:
    start: list[str]
    stop: list[str]


def queue_changes(*, consuming: Iterable[str], paused: dict[str, bool], chosen: frozenset[str] | None) -> QueueChanges:
    """Say which subscription queues to start and stop consuming so that a worker matches the database.

    `consuming`: the queues the worker consumes now; `paused`: each subscription queue's
    flag in the database; `chosen`: the worker's -Q choice, or None for every
    subscription. Queues that are not subscription queues are left alone.
    """
    if chosen is None:
        wanted = {queue for queue, is_paused in paused.items() if not is_paused}
    else:
        wanted = {queue for queue in chosen if not paused.get(queue, False)}
    current = {queue for queue in consuming if _is_subscription_queue(queue)}
    return QueueChanges(start=sorted(wanted - current), stop=sorted(current - wanted))


def queues_reconcile(consumer: object) -> QueueChanges | None:
    """Make a worker's consumer consume what the database says; return what changed (None: not now).

    Run in the consumer's event loop. While the database is unreachable, or the
    consumer is reconnecting to Redis, it changes nothing and is tried again next time.
    """
    task_consumer = getattr(consumer, "task_consumer", None)
    if task_consumer is None:
        return None  # (re)connecting: the restarted consumer takes the selected queues
    try:
        paused = topology_selectors.subscription_paused_flags()
    except django.db.Error as exc:
        logger.warning("Cannot read the subscriptions' pause flags (%s); trying again.", exc)
        django.db.close_old_connections()
        return None
    changes = queue_changes(
        consuming=[queue.name for queue in task_consumer.queues], paused=paused, chosen=_chosen_queues
    )
    try:
        for queue in changes.stop:
            logger.info("Subscription queue %s is paused or gone: no longer consuming it.", queue)
            consumer.cancel_task_queue(queue)  # type: ignore[attr-defined]
        for queue in changes.start:
            logger.info("Subscription queue %s is active: consuming it.", queue)
            consumer.add_task_queue(queue)  # type: ignore[attr-defined]
    except CONTROL_ERRORS as exc:
        # Redis went away meanwhile: the consumer reconnects, and the next check goes on.
        logger.warning("Cannot change the consumed queues now (%s); trying again.", exc)
        return None
    return changes


def _is_subscription_queue(queue: str) -> bool:
    return redis_keys.is_subscription_queue(queue) and queue != redis_keys.CONTROL_QUEUE


# How long to wait for running workers to confirm a pause or resume.
CONTROL_REPLY_SECONDS = 1.0


def workers_stop_consuming(*, queue: str) -> int | None:
    """Tell every running worker to stop taking messages from `queue` now; return how many confirmed.

    None when Redis is unreachable: the workers then follow the database flag by
    themselves once they reach it (see above). Messages keep arriving and wait in the queue.
    """
    try:
        replies = current_app.control.cancel_consumer(queue, reply=True, timeout=CONTROL_REPLY_SECONDS)
    except CONTROL_ERRORS as exc:
        logger.warning("Cannot tell the workers to stop consuming %s (%s); they follow the database.", queue, exc)
        return None
    return len(replies or [])


def workers_start_consuming(*, queue: str) -> int | None:
    """Tell every running worker to take messages from `queue` again now; return how many confirmed (or None)."""
    try:
        replies = current_app.control.add_consumer(queue, reply=True, timeout=CONTROL_REPLY_SECONDS)
    except CONTROL_ERRORS as exc:
        logger.warning("Cannot tell the workers to consume %s (%s); they follow the database.", queue, exc)
        return None
    return len(replies or [])


def workers_consuming(*, queues: list[str]) -> dict[str, int]:
    """Count the running workers that consume each queue; empty when none answers in time."""
    try:
        answers = current_app.control.inspect(timeout=CONTROL_REPLY_SECONDS).active_queues() or {}
    except (OSError, kombu.exceptions.OperationalError, redis.RedisError):
        return {}  # the broker is unreachable: who consumes is unknown
    if not answers:
        return {}
    counts = dict.fromkeys(queues, 0)
    for consumed in answers.values():
        for queue in {q.get("name") for q in consumed or []} & set(queues):
            counts[queue] += 1
    return counts
