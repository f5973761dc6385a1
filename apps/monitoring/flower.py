"""Make Flower tell the truth about Switchboard: its /metrics behind its auth, every subscription's queue listed.

Flower 2.2 has no hook for either, so config/flowerconfig.py (Flower's --conf, run in
the Flower process at start) calls `flower_patch()`:

- Flower serves its own Prometheus `/metrics` without authentication; it gets the same
  `tornado.web.authenticated` check as Flower's pages (basic auth or OAuth).
- Flower's broker page and `/api/queues/length` list the queues that running workers
  consume. A paused subscription's queue is consumed by none, so it vanished exactly
  when it backed up. The list now holds every subscription's queue as well, read from
  the database every few seconds by a thread (the ORM is not called in Tornado's event
  loop), each with its depth (LLEN).

What Flower cannot show (retries waiting in the delay schedule, the outbox, dead
letters, the oldest message's age) is on Switchboard's dashboard and /metrics.
Task outcomes: a delivery task whose delivery died raises DeadLetteredError
(apps.delivery.tasks), so Flower shows it FAILURE.
"""

import logging
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0

_subscription_queues: list[str] = []


def subscription_queues_known() -> list[str]:
    """The subscription queues the refresher read last (empty until its first read)."""
    return list(_subscription_queues)


def _refresh_forever() -> None:
    from apps.topology import selectors as topology_selectors

    global _subscription_queues
    while True:
        try:
            _subscription_queues = sorted(topology_selectors.subscription_queues())
        except Exception as exc:  # noqa: BLE001 - the database may be away; Flower runs on
            logger.warning("Cannot read the subscription queues (%s); keeping the last list.", exc)
        time.sleep(REFRESH_SECONDS)


def flower_patch() -> None:
    """Patch Flower's handlers (see the module's docstring) and start the queue refresher."""
    import django
    from flower.views import BaseHandler, monitor
    from tornado import web

    django.setup()
    monitor.Metrics.get = web.authenticated(monitor.Metrics.get)
    active_queue_names = BaseHandler.get_active_queue_names

    def every_queue_name(self: Any) -> list[str]:
        return sorted(set(active_queue_names(self)) | set(_subscription_queues))

    BaseHandler.get_active_queue_names = every_queue_name
    threading.Thread(target=_refresh_forever, name="subscription-queues", daemon=True).start()
