"""The relay loop: move due scheduled deliveries to their queues until told to stop."""

import logging
import signal
import threading
from types import FrameType

import redis
from kombu.exceptions import OperationalError

from apps.delivery import sending

logger = logging.getLogger(__name__)

IDLE_SLEEP_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


def relay_run(*, stop: threading.Event, idle_sleep: float = IDLE_SLEEP_SECONDS) -> None:
    """Relay until `stop` is set; broker errors back off exponentially and never end the loop."""
    backoff = 0.0
    while not stop.is_set():
        try:
            sent = sending.scheduled_deliveries_relay()
        except (redis.RedisError, OperationalError, OSError) as exc:
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2 or 0.2)
            logger.warning("Relay cannot reach Redis (%s); retrying in %.1f s.", exc, backoff)
            stop.wait(backoff)
            continue
        backoff = 0.0
        if sent:
            logger.debug("Relayed %s scheduled deliveries.", sent)
        else:
            stop.wait(idle_sleep)


def stop_on_signals() -> threading.Event:
    """Return an event set by SIGTERM or SIGINT, so the loop ends between batches."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("Relay stopping (signal %s).", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop
