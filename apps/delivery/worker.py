"""Worker start-up: choose the queues a `celery worker` consumes."""

import logging

from apps.topology import selectors as topology_selectors

logger = logging.getLogger(__name__)


def consume_subscription_queues(queues: object) -> list[str]:
    """Add every subscription's queue unless the worker was started with -Q.

    With -Q the operator chose the queues (e.g. one subscription per worker pool), and
    that choice stands. A worker without -Q serves every subscription that exists when
    it starts; restart workers after adding subscriptions.
    """
    if queues._consume_from is not None:  # type: ignore[attr-defined]
        return []
    names = topology_selectors.subscription_queues()
    for name in names:
        queues.select_add(name)  # type: ignore[attr-defined]
    logger.info("Consuming %s subscription queues: %s", len(names), ", ".join(names))
    return names
