"""The relay: moves deliveries from the outbox and the delay schedule into their queues.

Each cycle it
1. notices a Redis restart (a new run id) and sends every open delivery again, because
   Redis with AOF `everysec` may have lost the last second of queued messages;
2. reclaims deliveries whose worker died (their lease ran out) into the schedule;
3. sends due scheduled deliveries (retries, delayed publishes, reclaimed ones);
4. sweeps the outbox for deliveries the publisher's fast path did not send;
5. dead-letters open deliveries whose TTL passed, wherever they wait (apps.delivery.expiry).
Broker and database errors back off and never end the loop; several relays may run.
"""

import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

import django.db
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.delivery import expiry, leases, ledger, outbox, scheduler
from apps.delivery.models import OPEN_STATES, BrokerEpoch, Delivery

logger = logging.getLogger(__name__)

# Redis or the database is away: wait and try again, never give up.
RELAY_ERRORS: tuple[type[BaseException], ...] = (
    *outbox.BROKER_ERRORS,
    django.db.OperationalError,
    django.db.InterfaceError,
)
IDLE_SLEEP_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
OUTBOX_SWEEP_SECONDS = 1.0
EPOCH_CHECK_SECONDS = 2.0
STALE_CHECK_SECONDS = 5.0
# A delivery sent this long ago, still open, and nowhere in Redis was lost in transit.
STALE_AFTER_SECONDS = 10.0


@dataclass
class RelayState:
    next_outbox_sweep: float = 0.0
    next_epoch_check: float = 0.0
    next_stale_check: float = 0.0
    next_expiry_sweep: float = 0.0


def stale_deliveries_resend(*, older_than: float = STALE_AFTER_SECONDS, limit: int = 500) -> int:
    """Put back in the outbox open deliveries that were sent but that Redis no longer holds.

    kombu takes a message with BRPOP, which removes it, and records it as unacknowledged
    only once the worker has read the reply: a connection killed in between (CLIENT KILL,
    Redis's `timeout`, a proxy reset) loses the message. A delivery sent over
    `older_than` seconds ago, still open, with no lease, not scheduled, and whose queue
    is empty, went that way: it is sent again (a rare duplicate is skipped by consumers).
    A queue that never empties is not checked; its backlog still holds what it holds.
    """
    client = redis_client()
    now = timezone.now()
    candidates = list(
        Delivery.objects.filter(state__in=OPEN_STATES, sent_at__lt=now - timedelta(seconds=older_than))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .values_list("pk", "subscription__name")[:limit]
    )
    if not candidates:
        return 0
    queues = {name: redis_keys.subscription_queue(name) for _, name in candidates}
    depth = {name: int(client.llen(queue)) for name, queue in queues.items()}  # type: ignore[arg-type]
    pipe = client.pipeline(transaction=False)
    for pk, name in candidates:
        member = scheduler.ScheduledDelivery(queues[name], pk).encode()
        pipe.zscore(redis_keys.RUNNING, member)
        pipe.zscore(redis_keys.SCHEDULED, member)
        pipe.zscore(redis_keys.SCHEDULED_CLAIMED, member)
    scores = pipe.execute()
    lost = [
        pk
        for i, (pk, name) in enumerate(candidates)
        if depth[name] == 0 and all(score is None for score in scores[3 * i : 3 * i + 3])
    ]
    if lost:
        ledger.deliveries_mark_unsent(delivery_ids=lost)
        logger.warning("%s open deliveries were sent but are nowhere in Redis; sending them again.", len(lost))
    return len(lost)


def broker_epoch_check() -> int:
    """Send every open delivery again if Redis restarted since last seen; return how many."""
    info: dict[str, object] = redis_client().info("server")  # type: ignore[assignment]
    run_id = str(info["run_id"])
    with transaction.atomic():
        epoch = BrokerEpoch.objects.select_for_update().first()
        if epoch is None:
            BrokerEpoch.objects.create(run_id=run_id)
            return 0
        if epoch.run_id == run_id:
            return 0
        epoch.run_id = run_id
        epoch.save(update_fields=["run_id", "seen_at"])
        resent = ledger.deliveries_mark_all_unsent()
    logger.warning("Redis restarted (run id %s): %s open deliveries go out again.", run_id, resent)
    return resent


def scheduled_deliveries_relay(*, limit: int = 500) -> int:
    """Send every due scheduled delivery to its queue; return how many were sent."""
    client = redis_client()
    due = scheduler.claim_due(client, limit=limit)
    if due:
        outbox.deliveries_send(due)
        scheduler.release(client, due)
    return len(due)


def relay_cycle(state: RelayState) -> int:
    """Run one relay cycle; return how much it moved."""
    now = time.monotonic()
    moved = 0
    if now >= state.next_epoch_check:
        state.next_epoch_check = now + EPOCH_CHECK_SECONDS
        moved += broker_epoch_check()
    if now >= state.next_stale_check:
        state.next_stale_check = now + STALE_CHECK_SECONDS
        moved += stale_deliveries_resend()
    moved += leases.leases_reclaim(redis_client())
    moved += scheduled_deliveries_relay()
    if now >= state.next_outbox_sweep or moved:
        swept = outbox.outbox_sweep()
        # Keep sweeping without a pause while a backlog drains.
        state.next_outbox_sweep = now if swept else now + OUTBOX_SWEEP_SECONDS
        moved += swept
    if now >= state.next_expiry_sweep:
        expired = expiry.deliveries_expire()
        state.next_expiry_sweep = now if expired else now + expiry.EXPIRY_SWEEP_SECONDS
        moved += expired
    return moved


def relay_run(*, stop: threading.Event, idle_sleep: float = IDLE_SLEEP_SECONDS) -> None:
    """Relay until `stop` is set; broker and database errors back off and never end the loop."""
    state = RelayState()
    backoff = 0.0
    while not stop.is_set():
        try:
            moved = relay_cycle(state)
        except RELAY_ERRORS as exc:
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2 or 0.2)
            logger.warning("Relay cannot reach Redis or the database (%s); retrying in %.1f s.", exc, backoff)
            django.db.close_old_connections()
            stop.wait(backoff)
            continue
        backoff = 0.0
        if not moved:
            stop.wait(idle_sleep)


def stop_on_signals() -> threading.Event:
    """Return an event set by SIGTERM or SIGINT, so the loop ends between cycles."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("Relay stopping (signal %s).", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop
