"""The leases one batch of attempts holds, from their taking to their release.

A batch takes every lease in one round trip (`leases.leases_take`) and keeps, until the
last delivery is done:
- `held`: the deliveries whose lease it took and whose attempt has not begun, with their
  start number (0 while not counted: a redelivered batch counts each start as it begins);
- `counted`: starts counted with the leases for attempts not begun yet, taken back if an
  error ends the batch before they begin;
- `to_release`: the leases of finished attempts, released with the next round trip
  (the next start counted, the next commit, or the end of the batch).
"""

import logging

import redis

from apps.delivery import leases

logger = logging.getLogger(__name__)

# A lease to release: (queue, delivery id, final). A final release forgets the start count.
Release = tuple[str, int, bool]


class BatchLeases:
    def __init__(
        self,
        client: redis.Redis,
        *,
        queues: dict[int, str],
        leased: list[int],
        starts: list[int],
        broker_tag: str | None,
    ) -> None:
        """Hold what `leases.leases_take` took: `starts` per `leased` delivery, -1 where a live lease is elsewhere."""
        self.client = client
        self.queues = queues
        self.held = {i: start for i, start in zip(leased, starts, strict=True) if start >= 0}
        self.counted = {i for i, start in self.held.items() if start > 0}
        self.to_release: list[Release] = []
        self.broker_tag = broker_tag
        self._leased = leased
        self._keeper = leases.lease_keeper(client)
        for delivery_id in self.held:
            self._keeper.hold(queue=queues[delivery_id], delivery_id=delivery_id, broker_tag=broker_tag)

    @classmethod
    def take(
        cls, client: redis.Redis, *, delivery_ids: list[int], queues: dict[int, str], broker_tag: str | None
    ) -> "BatchLeases":
        """Take the leases of the deliveries that exist (in `queues`), in one round trip, and renew them.

        A batch of one counts its start with its lease; a longer one counts them all if
        none of its deliveries ever started (a first run), else none.
        """
        leased = list(dict.fromkeys(i for i in delivery_ids if i in queues))
        count = leases.CountStarts.ALL if len(leased) == 1 else leases.CountStarts.IF_FRESH
        starts = leases.leases_take(client, [(queues[i], i) for i in leased], count_starts=count)
        return cls(client, queues=queues, leased=leased, starts=starts, broker_tag=broker_tag)

    def counted_together(self) -> bool:
        """Say whether more than one start was counted with the leases (a batch's first run)."""
        return len(self.counted) > 1

    def take_over(self, delivery_id: int) -> int | None:
        """Take the delivery's lease for its attempt: its start number, or None if the batch holds none.

        A delivery the batch names twice is held once: its second copy gets None.
        """
        return self.held.pop(delivery_id, None)

    def begin(self, delivery_id: int, start: int) -> int:
        """Begin the delivery's attempt: count its start unless counted, and return the start number.

        Counting releases the leases of what finished before, in the same round trip.
        """
        self.counted.discard(delivery_id)
        if start == 0:
            start = leases.lease_count_start(self.client, delivery_id=delivery_id, finished=self.to_release)
            self.to_release.clear()
        return start

    def finish(self, delivery_id: int, *, final: bool) -> None:
        """Release the lease of a finished attempt with the next round trip."""
        self.to_release.append((self.queues[delivery_id], delivery_id, final))

    def release_finished(self) -> None:
        """Release the leases of finished attempts now (their outcomes are committed)."""
        leases.leases_finish(self.client, self.to_release)
        self.to_release.clear()

    def release_now(self, delivery_id: int) -> None:
        """Give up a lease taken under the wrong queue (its start, if counted, stays counted)."""
        leases.leases_finish(self.client, [(self.queues[delivery_id], delivery_id, False)])
        self.counted.discard(delivery_id)

    def release_after_error(self, *, rolled_back: bool) -> None:
        """Free every lease but the running delivery's, after an error or interruption ended the batch.

        Finished attempts whose outcomes were `rolled_back` with the batch's transaction
        run again: their starts are kept. Starts counted for attempts that never began are
        taken back. A Redis error is logged: the leases then run out on their own.
        """
        finished = [(q, i, False) for q, i, _ in self.to_release] if rolled_back else self.to_release
        unstarted = [(self.queues[i], i, False) for i in self.held]
        try:
            leases.leases_finish(self.client, finished + unstarted)
            leases.starts_uncount(self.client, sorted(self.counted))
        except redis.RedisError as exc:
            logger.warning("Cannot release delivery leases (%s); they run out on their own.", exc)

    def stop_renewing(self) -> None:
        """Stop renewing the batch's leases (whatever became of them)."""
        for delivery_id in self._leased:
            self._keeper.release(queue=self.queues[delivery_id], delivery_id=delivery_id, broker_tag=self.broker_tag)
