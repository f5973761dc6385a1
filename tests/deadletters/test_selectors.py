"""Tests for apps.deadletters.selectors: filters (and their errors), newest first, the replay plan."""

import datetime

import pytest
from django.utils import timezone

from apps.deadletters import selectors
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.deadletters.selectors import InvalidFilterError, ReplayOutcome
from apps.delivery.models import DeliveryState
from apps.topology.models import Subscription, Topic
from tests.deadletters.builders import T0, dead_letter, dead_letter_of, unroutable_dead_letter
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


def ids(queryset: object) -> list[int]:
    return [dl.pk for dl in queryset]  # type: ignore[attr-defined]


@pytest.fixture
def spread(billing: Subscription, inventory: Subscription) -> dict[str, DeadLetter]:
    """Four dead letters, an hour apart from T0, of two subscriptions, topics and reasons."""
    refunds = SubscriptionFactory.create(name="refund-issue", topic=TopicFactory.create(name="refunds.requested"))
    return {
        "billing_old": dead_letter(billing, created_at=T0),
        "inventory": dead_letter(inventory, reason=DeadLetterReason.PERMANENT, created_at=T0 + HOUR),
        "refund": dead_letter(refunds, reason=DeadLetterReason.EXPIRED, created_at=T0 + 2 * HOUR, replayed_at=T0),
        "billing_new": dead_letter(billing, reason=DeadLetterReason.WORKER_LOST, created_at=T0 + 3 * HOUR),
    }


def test_no_filter_lists_every_dead_letter_newest_first(spread: dict[str, DeadLetter]) -> None:
    result = selectors.dead_letters_filter(filters={})

    assert ids(result) == [spread[n].pk for n in ["billing_new", "refund", "inventory", "billing_old"]]


def test_dead_letters_created_at_the_same_time_are_ordered_by_id_descending(billing: Subscription) -> None:
    first, second = dead_letter(billing, created_at=T0), dead_letter(billing, created_at=T0)

    assert ids(selectors.dead_letters_filter(filters={})) == [second.pk, first.pk]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"subscription": "billing-charge"}, ["billing_new", "billing_old"]),
        ({"topic": "refunds.requested"}, ["refund"]),
        ({"topic": "orders.created"}, ["billing_new", "inventory", "billing_old"]),
        ({"reason": "permanent"}, ["inventory"]),
        ({"created_after": (T0 + HOUR).isoformat()}, ["billing_new", "refund", "inventory"]),
        ({"created_before": (T0 + HOUR).isoformat()}, ["billing_old"]),
        ({"created_after": "2026-11-01T13:00:00Z", "created_before": "2026-11-01T15:00:00Z"}, ["refund", "inventory"]),
        ({"replayed": "true"}, ["refund"]),
        ({"replayed": "FALSE"}, ["billing_new", "inventory", "billing_old"]),
        ({"replayed": True}, ["refund"]),
        ({"replayed": False}, ["billing_new", "inventory", "billing_old"]),
        ({"subscription": "billing-charge", "reason": "exhausted"}, ["billing_old"]),
        ({"subscription": "inventory-reserve", "reason": "exhausted"}, []),
    ],
)
def test_each_filter_narrows_the_list(
    spread: dict[str, DeadLetter], filters: dict[str, object], expected: list[str]
) -> None:
    assert ids(selectors.dead_letters_filter(filters=filters)) == [spread[name].pk for name in expected]


def test_message_id_filter_finds_the_dead_letters_of_one_message(spread: dict[str, DeadLetter]) -> None:
    message_id = str(spread["inventory"].message_id)

    assert ids(selectors.dead_letters_filter(filters={"message_id": message_id})) == [spread["inventory"].pk]


def test_unroutable_dead_letters_are_found_by_topic_and_reason(orders: Topic) -> None:
    kept = unroutable_dead_letter(orders)

    result = selectors.dead_letters_filter(filters={"topic": "orders.created", "reason": "unroutable"})

    assert ids(result) == [kept.pk]


@pytest.mark.parametrize(
    ("filters", "errors"),
    [
        (
            {"subscriptions": "billing-charge"},
            {
                "subscriptions": [
                    "Unknown filter; the filters are subscription, topic, reason, created_after, created_before,"
                    " replayed, message_id."
                ]
            },
        ),
        ({"subscription": "no-such"}, {"subscription": ["There is no subscription named no-such."]}),
        ({"topic": "no.such"}, {"topic": ["There is no topic named no.such."]}),
        (
            {"reason": "tired"},
            {"reason": ["Select a valid choice. tired is not one of the available choices."]},
        ),
        ({"created_after": "yesterday"}, {"created_after": ["Enter a valid date/time."]}),
        ({"created_before": "2026-13-01"}, {"created_before": ["Enter a valid date/time."]}),
        ({"replayed": "yes"}, {"replayed": ["Must be true or false."]}),
        ({"message_id": "42"}, {"message_id": ["Enter a valid UUID."]}),
        ({"reason": ""}, {"reason": ["May not be blank; leave the filter out instead."]}),
        ({"subscription": "  "}, {"subscription": ["May not be blank; leave the filter out instead."]}),
        ({"reason": 3}, {"reason": ["Must be a string."]}),
        ({"subscription": True}, {"subscription": ["Must be a string."]}),
        ({"replayed": None}, {"replayed": ["Must be a string."]}),
        (
            {"reason": "tired", "replayed": "maybe"},
            {
                "reason": ["Select a valid choice. tired is not one of the available choices."],
                "replayed": ["Must be true or false."],
            },
        ),
    ],
)
def test_a_bad_filter_is_an_error_naming_it(billing: Subscription, filters: dict[str, object], errors: object) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        selectors.dead_letters_filter(filters=filters)

    assert caught.value.errors == errors


def test_dead_letters_missing_names_unknown_ids_in_order(billing: Subscription) -> None:
    known = dead_letter(billing)

    assert selectors.dead_letters_missing(ids=[known.pk + 7, known.pk, known.pk + 3, known.pk + 7]) == [
        known.pk + 3,
        known.pk + 7,
    ]


def test_dead_letter_get_returns_none_for_an_unknown_id(billing: Subscription) -> None:
    known = dead_letter(billing)

    assert selectors.dead_letter_get(dead_letter_id=known.pk) == known
    assert selectors.dead_letter_get(dead_letter_id=known.pk + 1) is None


def test_replay_plan_counts_what_a_replay_would_do(billing: Subscription, orders: Topic) -> None:
    dead_letter(billing)  # replay
    dead_letter(billing, delivery_state=DeliveryState.RETRYING)  # in flight
    dead_letter(billing, delivery_state=DeliveryState.PENDING)  # in flight
    dead_letter(billing, delivery_state=DeliveryState.DELIVERED, replayed_at=T0)  # delivered
    older = dead_letter(billing, replayed_at=T0)
    dead_letter_of(older.delivery)  # type: ignore[arg-type]  # older is superseded; this one: replay
    dead_letter(billing, expires_at=timezone.now() - HOUR)  # expired
    dead_letter(billing, expires_at=timezone.now() + HOUR)  # replay: not expired yet
    unroutable_dead_letter(orders)  # reroute
    unroutable_dead_letter(orders, expires_at=timezone.now() - HOUR)  # expired
    rerouted = unroutable_dead_letter(orders)
    DeadLetter.objects.filter(pk=rerouted.pk).update(replayed_at=T0)  # already rerouted

    plan = selectors.dead_letters_replay_plan(
        dead_letters=selectors.dead_letters_filter(filters={}), now=timezone.now()
    )

    assert plan == {
        ReplayOutcome.REPLAY: 3,
        ReplayOutcome.REROUTE: 1,
        ReplayOutcome.IN_FLIGHT: 2,
        ReplayOutcome.DELIVERED: 1,
        ReplayOutcome.SUPERSEDED: 1,
        ReplayOutcome.ALREADY_REROUTED: 1,
        ReplayOutcome.EXPIRED: 2,
    }


def test_an_unroutable_message_that_has_deliveries_counts_as_already_rerouted(
    orders: Topic, billing: Subscription
) -> None:
    kept = unroutable_dead_letter(orders)
    dead_letter(billing, message=kept.message)

    plan = selectors.dead_letters_replay_plan(dead_letters=DeadLetter.objects.filter(pk=kept.pk), now=timezone.now())

    assert plan[ReplayOutcome.ALREADY_REROUTED] == 1
    assert sum(plan.values()) == 1


def test_replay_plan_of_an_empty_selection_is_all_zero(billing: Subscription) -> None:
    plan = selectors.dead_letters_replay_plan(dead_letters=DeadLetter.objects.none(), now=timezone.now())

    assert plan == dict.fromkeys(ReplayOutcome, 0)
