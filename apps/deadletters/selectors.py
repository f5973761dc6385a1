"""Read dead letters: filter them, fetch one, and say what a replay would do with each."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db.models import Case, CharField, Count, Exists, OuterRef, Prefetch, Q, QuerySet, Value, When

from apps.accounts.topics import ALL_TOPICS, TopicAccess
from apps.core.errors import SwitchboardError
from apps.deadletters.filters import FILTER_NAMES, DeadLetterFilterSet
from apps.deadletters.models import DeadLetter
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState


class InvalidFilterError(SwitchboardError, ValueError):
    """One or more filter values are unknown or malformed; `errors` maps each filter to its messages.

    The API answers it as it answers any other invalid input.
    """

    status = 400
    code = "invalid"
    title = "Invalid input"

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__(errors=errors)


class UnknownDeadLetterError(SwitchboardError):
    """No dead letter has this id; `errors` names the field when a selection of ids names unknown ones."""

    status = 404
    code = "unknown-dead-letter"
    title = "Unknown dead letter"


def dead_letters_filter(*, filters: Mapping[str, object], topics: TopicAccess = ALL_TOPICS) -> QuerySet[DeadLetter]:
    """Return the dead letters of `topics` matching every filter, newest first.

    Values are strings as in a query string; `replayed` may also be a JSON boolean. An
    empty mapping matches every dead letter. Raise InvalidFilterError naming each unknown
    filter, blank or malformed value, and each subscription or topic that does not exist
    (or is outside `topics`: the same answer, so a restricted key learns no names).
    """
    errors: dict[str, list[str]] = {}
    data: dict[str, str] = {}
    for name, value in filters.items():
        if name not in FILTER_NAMES:
            errors[name] = [f"Unknown filter; the filters are {', '.join(FILTER_NAMES)}."]
        elif isinstance(value, bool) and name == "replayed":
            data[name] = "true" if value else "false"
        elif not isinstance(value, str):
            errors[name] = ["Must be a string."]
        elif not value.strip():
            errors[name] = ["May not be blank; leave the filter out instead."]
        else:
            data[name] = value
    queryset = topics.filter(DeadLetter.objects.order_by("-created_at", "-pk"), "topic")
    filterset = DeadLetterFilterSet(data=data, queryset=queryset)
    subscriptions, known_topics = filterset.filters["subscription"], filterset.filters["topic"]
    # The filters name only subscriptions and topics the key may see: others are "unknown", not revealed.
    subscriptions.queryset = topics.filter(subscriptions.queryset, "topic__name")
    known_topics.queryset = topics.filter(known_topics.queryset, "name")
    if not filterset.is_valid():
        errors.update({name: [str(message) for message in messages] for name, messages in filterset.errors.items()})
    if errors:
        raise InvalidFilterError(errors)
    return filterset.qs


def dead_letters_with_ids(*, ids: Iterable[int], topics: TopicAccess = ALL_TOPICS) -> QuerySet[DeadLetter]:
    return topics.filter(DeadLetter.objects.filter(pk__in=list(ids)), "topic").order_by("-created_at", "-pk")


def dead_letters_missing(*, ids: Iterable[int], topics: TopicAccess = ALL_TOPICS) -> list[int]:
    """Return, in order, the ids among `ids` that name no dead letter of `topics`."""
    wanted = sorted(set(ids))
    found = set(topics.filter(DeadLetter.objects.filter(pk__in=wanted), "topic").values_list("pk", flat=True))
    return [pk for pk in wanted if pk not in found]


def dead_letters_page(*, dead_letters: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
    """Return `dead_letters` shaped for a list: the subscription joined, payloads not loaded."""
    return dead_letters.select_related("subscription").defer("payload", "attributes")


def dead_letter_get(*, dead_letter_id: int, topics: TopicAccess = ALL_TOPICS) -> DeadLetter | None:
    """Return one dead letter of `topics` with its subscription and the deliveries replayed from it, or None."""
    if not 0 < dead_letter_id < 2**63:  # no such id; SQLite cannot even compare a larger integer
        return None
    replays = Prefetch("replays", queryset=Delivery.objects.select_related("subscription").order_by("pk"))
    dead_letters = topics.filter(DeadLetter.objects.all(), "topic")
    return dead_letters.select_related("subscription").prefetch_related(replays).filter(pk=dead_letter_id).first()


class ReplayOutcome(StrEnum):
    """What replaying a dead letter does, decided by its delivery's state now.

    A delivery may die more than once (a replay that dies again is a new dead letter), so
    only its newest dead letter replays it; a delivery that is running again or was
    delivered is left alone, so a replay never delivers a message twice.
    """

    REPLAY = "replay"  # the delivery is dead: reset it to start again from attempt 1
    REROUTE = "reroute"  # unroutable: route the message again through today's subscriptions
    IN_FLIGHT = "in_flight"  # the delivery is pending or retrying again (replayed already)
    DELIVERED = "delivered"  # the delivery succeeded since (an earlier replay worked)
    SUPERSEDED = "superseded"  # the delivery died again since: replay its newest dead letter
    ALREADY_REROUTED = "already_rerouted"  # unroutable message replayed once, or routed since
    EXPIRED = "expired"  # the message's TTL has passed: it would be dead-lettered again at once


SKIPPED_OUTCOMES = [
    outcome for outcome in ReplayOutcome if outcome not in {ReplayOutcome.REPLAY, ReplayOutcome.REROUTE}
]


def _replay_outcome(now: datetime) -> Case:
    newer = DeadLetter.objects.filter(delivery_id=OuterRef("delivery_id"), pk__gt=OuterRef("pk"))
    routed = Delivery.objects.filter(message_id=OuterRef("message_id"))
    expired = Q(message__expires_at__lte=now)
    unroutable = Q(delivery__isnull=True)
    return Case(
        When(unroutable & (Q(replayed_at__isnull=False) | Exists(routed)), then=Value(ReplayOutcome.ALREADY_REROUTED)),
        When(unroutable & expired, then=Value(ReplayOutcome.EXPIRED)),
        When(unroutable, then=Value(ReplayOutcome.REROUTE)),
        When(delivery__state__in=OPEN_STATES, then=Value(ReplayOutcome.IN_FLIGHT)),
        When(delivery__state=DeliveryState.DELIVERED, then=Value(ReplayOutcome.DELIVERED)),
        When(Exists(newer), then=Value(ReplayOutcome.SUPERSEDED)),
        When(expired, then=Value(ReplayOutcome.EXPIRED)),
        default=Value(ReplayOutcome.REPLAY),
        output_field=CharField(),
    )


def dead_letters_for_replay(*, ids: list[int], now: datetime) -> list[tuple[DeadLetter, ReplayOutcome]]:
    """Return the dead letters with these ids, oldest first, each with what a replay at `now` does with it.

    Their message comes loaded with its topic (rerouting reads them); their own error,
    payload and attributes do not.
    """
    rows = (
        DeadLetter.objects.filter(pk__in=ids)
        .annotate(replay_outcome=_replay_outcome(now))
        .select_related("message__topic")
        .defer("last_error", "payload", "attributes")
        .order_by("pk")
    )
    return [(row, ReplayOutcome(row.replay_outcome)) for row in rows]


def dead_letters_replay_plan(*, dead_letters: QuerySet[DeadLetter], now: datetime) -> dict[ReplayOutcome, int]:
    """Count what a replay at `now` would do with `dead_letters`, per outcome (every outcome present)."""
    counts = (
        dead_letters.annotate(replay_outcome=_replay_outcome(now))
        .order_by()
        .values("replay_outcome")
        .annotate(n=Count("pk"))
    )
    plan = dict.fromkeys(ReplayOutcome, 0)
    for row in counts:
        plan[ReplayOutcome(row["replay_outcome"])] = row["n"]
    return plan
