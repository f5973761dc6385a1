"""Replay and purge dead letters (the ledger, apps.delivery.ledger, creates them)."""

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from apps.accounts import audit
from apps.accounts.models import AuditEvent
from apps.core import redis_keys
from apps.core.errors import SwitchboardError
from apps.core.redis import redis_client
from apps.deadletters import selectors
from apps.deadletters.models import DeadLetter
from apps.deadletters.selectors import ReplayOutcome
from apps.delivery import ledger, outbox, routing
from apps.delivery.models import Delivery, DeliveryState

logger = logging.getLogger(__name__)

DEFAULT_REPLAY_RATE_PER_SECOND = 50.0
MAX_REPLAY_RATE_PER_SECOND = 1000.0
# Replay and purge work through their selection this many dead letters at a time, each
# chunk in its own transaction: memory stays flat however much a filter matches, and no
# transaction holds its locks (SQLite's write lock: every worker waits) for long.
CHUNK_SIZE = 500
# Replayed deliveries fall due in steps this far apart, as many in each as the rate allows
# (at least one). The relay releases what is due in cycles about this long anyway, and a
# step costs one UPDATE where a due time per delivery would cost one each.
REPLAY_STEP_SECONDS = 0.1


class InvalidReplayRateError(SwitchboardError, ValueError):
    """The replay rate is not a number of deliveries per second in (0, MAX_REPLAY_RATE_PER_SECOND]."""

    status = 400
    code = "invalid-replay-rate"
    title = "Invalid replay rate"


@dataclass
class ReplayReport:
    """What a replay did with each selected dead letter."""

    rate_per_second: float
    selected: int = 0
    # Deliveries reset to start again from attempt 1, spread over time by the rate.
    replayed: int = 0
    # Unroutable messages routed again: those that reached a subscription, and those that
    # still reached none (dead-lettered again if their topic keeps unroutable messages).
    rerouted: int = 0
    still_unroutable: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(selectors.SKIPPED_OUTCOMES, 0))
    # When the last replayed delivery is due (None when nothing was replayed).
    last_due_at: datetime | None = None


def dead_letters_replay(
    *,
    dead_letters: QuerySet[DeadLetter] | Iterable[int],
    rate_per_second: float = DEFAULT_REPLAY_RATE_PER_SECOND,
    actor: audit.Actor = audit.PYTHON_CODE,
    targets: Mapping[str, Any] | None = None,
) -> ReplayReport:
    """Deliver dead letters again: their deliveries start afresh, at most `rate_per_second`.

    Each dead delivery goes back to pending with no attempts, its error cleared, linked to
    the dead letter it was replayed from, and due `i / rate_per_second` seconds after the
    replay began (i = 0, 1, 2, ...): Switchboard's delay schedule releases them at that pace.
    Each dead letter gets `replayed_at`. An unroutable dead letter's message is routed
    again through today's subscriptions. What `selectors.ReplayOutcome` says to leave
    alone (a delivery that is running again or was delivered, an older dead letter of a
    delivery that died again, an expired message) is skipped and counted.

    The selection is what matched when the replay began (dead letters created meanwhile,
    such as replays that die again at once, are not replayed again), worked through in
    chunks of CHUNK_SIZE, each in one transaction. After each commit the deliveries go to
    Redis; while Redis is unreachable they wait in the outbox for the relay.

    The audit log gets one row for `actor` (naming `targets`, the filter that selected the
    dead letters, else their ids), written with the first chunk; each chunk adds its count.
    """
    _check_rate(rate_per_second)
    report = ReplayReport(rate_per_second=rate_per_second)
    started = timezone.now()
    total = _selection(dead_letters).count()
    logger.info("Replaying %s dead letters at up to %s per second.", total, rate_per_second)
    event = _Audited(actor, audit.AuditAction.DEAD_LETTERS_REPLAY, targets or _ids(dead_letters))
    for chunk in _chunks(_selection(dead_letters)):
        with transaction.atomic():
            _replay_chunk(chunk, started=started, report=report)
            event.add(len(chunk))
        logger.info(
            "Replay: %s of %s dead letters done (%s replayed, %s rerouted, %s skipped).",
            report.selected,
            total,
            report.replayed,
            report.rerouted + report.still_unroutable,
            sum(report.skipped.values()),
        )
    event.finish()
    return report


class _Audited:
    """The audit row of an action done in chunks: recorded with the first chunk, counted by each."""

    def __init__(self, actor: audit.Actor, action: str, targets: Mapping[str, Any]) -> None:
        self.actor, self.action, self.targets = actor, action, targets
        self.event: AuditEvent | None = None

    def add(self, count: int) -> None:
        if self.event is None:
            self.event = audit.record(self.actor, self.action, objects=self.targets, count=count)
        else:
            audit.add(self.event, count)

    def finish(self) -> None:
        """Record the action that matched nothing (no chunk recorded it)."""
        if self.event is None:
            self.add(0)


def _ids(dead_letters: QuerySet[DeadLetter] | Iterable[int]) -> dict[str, Any]:
    if isinstance(dead_letters, QuerySet):
        return audit.ids_objects(list(dead_letters.order_by("pk").values_list("pk", flat=True)))
    return audit.ids_objects(sorted(dead_letters))


def _check_rate(rate_per_second: float) -> None:
    if not (math.isfinite(rate_per_second) and 0 < rate_per_second <= MAX_REPLAY_RATE_PER_SECOND):
        raise InvalidReplayRateError(
            f"The replay rate must be above 0 and at most {MAX_REPLAY_RATE_PER_SECOND:g} per second,"
            f" not {rate_per_second}."
        )


def _selection(dead_letters: QuerySet[DeadLetter] | Iterable[int]) -> QuerySet[DeadLetter]:
    if isinstance(dead_letters, QuerySet):
        return dead_letters
    return DeadLetter.objects.filter(pk__in=list(dead_letters))


def _chunks(queryset: QuerySet[DeadLetter]) -> Iterator[list[int]]:
    """Yield the ids of `queryset` in ascending chunks, re-querying for each (keyset pagination).

    The upper bound is taken first, so rows created while the caller works are left out.
    """
    upper = queryset.aggregate(upper=Max("pk"))["upper"]
    last = 0
    while upper is not None:
        ids = list(queryset.filter(pk__gt=last, pk__lte=upper).order_by("pk").values_list("pk", flat=True)[:CHUNK_SIZE])
        if not ids:
            return
        last = ids[-1]
        yield ids


def _replay_chunk(ids: list[int], *, started: datetime, report: ReplayReport) -> None:
    now = timezone.now()
    rows = selectors.dead_letters_for_replay(ids=ids, now=now)
    report.selected += len(rows)
    to_replay = [dl for dl, outcome in rows if outcome == ReplayOutcome.REPLAY]
    to_reroute = [dl for dl, outcome in rows if outcome == ReplayOutcome.REROUTE]
    for _, outcome in rows:
        if outcome in report.skipped:
            report.skipped[outcome] += 1
    # Lock the deliveries and read their state again: another replay may have reset one
    # since the rows above were read. (SQLite serialises writers for the same effect.)
    still_dead = set(
        Delivery.objects.select_for_update()
        .filter(pk__in=[dl.delivery_id for dl in to_replay], state=DeliveryState.DEAD)
        .values_list("pk", flat=True)
    )
    replayed = [dl for dl in to_replay if dl.delivery_id in still_dead]
    report.skipped[ReplayOutcome.IN_FLIGHT] += len(to_replay) - len(replayed)
    if replayed:
        _reset(replayed, started=started, now=now, report=report)
        delivery_ids = [dl.delivery_id for dl in replayed if dl.delivery_id is not None]
        transaction.on_commit(lambda: _send_replayed(delivery_ids))
    if to_reroute:
        _reroute(to_reroute, now=now, report=report)


def _reset(dead_letters: list[DeadLetter], *, started: datetime, now: datetime, report: ReplayReport) -> None:
    """Reset the deliveries of these dead letters to start afresh, due in turn at the report's rate.

    They are due in steps of REPLAY_STEP_SECONDS, a step's worth of deliveries each: one
    UPDATE per step rather than per delivery.
    """
    rate = report.rate_per_second
    per_step = max(1, round(rate * REPLAY_STEP_SECONDS))
    steps: dict[datetime, list[int]] = defaultdict(list)
    for dl in dead_letters:
        if dl.delivery_id is None:
            continue
        due = started + timedelta(seconds=(report.replayed // per_step) * per_step / rate)
        steps[due].append(dl.delivery_id)
        report.replayed += 1
        report.last_due_at = due
    ledger.deliveries_reset_for_replay(dead_letters=dead_letters, due=steps, now=now)
    DeadLetter.objects.filter(pk__in=[dl.pk for dl in dead_letters]).update(replayed_at=now)


def _send_replayed(delivery_ids: list[int]) -> None:
    """Forget the deliveries' start counters, so attempts count from 1 again, then send them.

    The relay's outbox sweep takes any unsent delivery created over a grace period ago,
    which a replayed one always was: the rows are locked and read again, as the sweep
    does, so that whichever of the two comes first sends them and the other skips them.
    """
    try:
        redis_client().delete(*[redis_keys.starts(pk) for pk in delivery_ids])
        outbox.outbox_send_unsent(delivery_ids=delivery_ids)
    except outbox.BROKER_ERRORS as exc:
        # The replay stands: the relay's outbox sweep sends them once Redis is back.
        logger.warning("Cannot reach Redis (%s); %s replayed deliveries wait in the outbox.", exc, len(delivery_ids))


def _reroute(dead_letters: list[DeadLetter], *, now: datetime, report: ReplayReport) -> None:
    """Route unroutable messages again; link what they reach to the dead letter they came from."""
    by_message = {dl.message_id: dl for dl in dead_letters}
    created = routing.deliveries_create(messages=[dl.message for dl in by_message.values()])
    ledger.deliveries_link_replayed(links={c.pk: by_message[c.message_id] for c in created})
    routed = {delivery.message_id for delivery in created}
    for dl in dead_letters:
        if dl.message_id in routed:
            report.rerouted += 1
        else:
            report.still_unroutable += 1
    DeadLetter.objects.filter(pk__in=[dl.pk for dl in dead_letters]).update(replayed_at=now)


@dataclass(frozen=True)
class PurgeReport:
    purged: int


def dead_letters_purge(
    *,
    dead_letters: QuerySet[DeadLetter] | Iterable[int],
    actor: audit.Actor = audit.PYTHON_CODE,
    targets: Mapping[str, Any] | None = None,
) -> PurgeReport:
    """Delete dead letters, in chunks; their messages and deliveries stay.

    Deliveries replayed from a purged dead letter keep running; they lose the link. The
    audit log gets one row, as for a replay.
    """
    queryset = _selection(dead_letters)
    total = queryset.count()
    purged = 0
    event = _Audited(actor, audit.AuditAction.DEAD_LETTERS_PURGE, targets or _ids(dead_letters))
    for chunk in _chunks(queryset):
        with transaction.atomic():
            _, per_model = DeadLetter.objects.filter(pk__in=chunk).delete()
            deleted = per_model.get(DeadLetter._meta.label, 0)
            event.add(deleted)
        purged += deleted
        logger.info("Purge: %s of %s dead letters deleted.", purged, total)
    event.finish()
    return PurgeReport(purged=purged)
