"""Worker control: choose the queues a `celery worker` consumes, pause and resume them."""

import logging

import kombu.exceptions
from celery import current_app

from apps.topology import selectors as topology_selectors

logger = logging.getLogger(__name__)


def consume_subscription_queues(queues: object) -> list[str]:
    """Choose what a starting worker consumes: every active subscription's queue.

    A worker started with -Q keeps the operator's choice (e.g. one subscription per
    worker pool) less the paused subscriptions. A worker without -Q serves every active
    subscription that exists when it starts; restart workers after adding subscriptions.
    """
    paused = set(topology_selectors.subscription_queues(paused=True))
    chosen = queues._consume_from  # type: ignore[attr-defined]
    if chosen is not None:
        skipped = sorted(paused & set(chosen))
        if skipped:
            queues.deselect(skipped)  # type: ignore[attr-defined]
            logger.info("Not consuming paused subscription queues: %s", ", ".join(skipped))
        return sorted(set(chosen) - paused)
    names = topology_selectors.subscription_queues(paused=False)
    for name in names:
        queues.select_add(name)  # type: ignore[attr-defined]
    logger.info("Consuming %s subscription queues: %s", len(names), ", ".join(names))
    return names


# How long to wait for running workers to confirm a pause or resume.
CONTROL_REPLY_SECONDS = 1.0


def workers_stop_consuming(*, queue: str) -> int:
    """Tell every running worker to stop taking messages from `queue`; return how many confirmed.

    Messages keep arriving in the queue and wait there. A worker started later skips the
    queue because the subscription is marked paused.
    """
    replies = current_app.control.cancel_consumer(queue, reply=True, timeout=CONTROL_REPLY_SECONDS)
    return len(replies or [])


def workers_start_consuming(*, queue: str) -> int:
    """Tell every running worker to take messages from `queue` again; return how many confirmed."""
    replies = current_app.control.add_consumer(queue, reply=True, timeout=CONTROL_REPLY_SECONDS)
    return len(replies or [])


def workers_consuming(*, queues: list[str]) -> dict[str, int]:
    """Count the running workers that consume each queue; empty when none answers in time."""
    try:
        answers = current_app.control.inspect(timeout=CONTROL_REPLY_SECONDS).active_queues() or {}
    except (OSError, kombu.exceptions.OperationalError):
        return {}
    if not answers:
        return {}
    counts = dict.fromkeys(queues, 0)
    for consumed in answers.values():
        for queue in {q.get("name") for q in consumed or []} & set(queues):
            counts[queue] += 1
    return counts
