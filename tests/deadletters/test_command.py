"""Tests for `manage.py dead_letters`: replay or purge by id, filter or --all, with a JSON report."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery, DeliveryState
from apps.topology.models import Subscription
from tests.deadletters.builders import dead_letter

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict[str, object]:
    out = io.StringIO()
    call_command("dead_letters", *args, stdout=out)
    return json.loads(out.getvalue())


def test_replay_by_filter_prints_the_report(billing: Subscription, inventory: Subscription) -> None:
    dead_letter(billing), dead_letter(billing)
    dead_letter(inventory)

    report = run("replay", "--subscription", "billing-charge", "--reason", "exhausted", "--rate", "200")

    assert {k: report[k] for k in ("selected", "replayed", "rate_per_second")} == {
        "selected": 2,
        "replayed": 2,
        "rate_per_second": 200.0,
    }
    assert Delivery.objects.filter(subscription=billing, state=DeliveryState.PENDING).count() == 2
    assert Delivery.objects.get(subscription=inventory).state == DeliveryState.DEAD


def test_replay_by_ids(billing: Subscription) -> None:
    chosen, other = dead_letter(billing), dead_letter(billing)

    report = run("replay", "--id", str(chosen.pk))

    assert report["replayed"] == 1
    assert other.delivery_id is not None
    assert Delivery.objects.get(pk=other.delivery_id).state == DeliveryState.DEAD


def test_purge_all_needs_all(billing: Subscription) -> None:
    dead_letter(billing, reason=DeadLetterReason.PERMANENT), dead_letter(billing)

    with pytest.raises(CommandError) as refused:
        run("purge")
    assert str(refused.value) == "No filter selects every dead letter: give --all to mean it."
    assert DeadLetter.objects.count() == 2

    assert run("purge", "--all") == {"purged": 2}
    assert DeadLetter.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["replay", "--reason", "tired"],
            "Invalid filter: reason: Select a valid choice. tired is not one of the available choices.",
        ),
        (["replay", "--replayed", "maybe"], "Invalid filter: replayed: Must be true or false."),
        (["replay", "--id", "1", "--all"], "Give --id values, or filters, or --all: one of them."),
        (["replay", "--reason", "exhausted", "--all"], "--all goes only without filters."),
        (["replay", "--id", "999999"], "There is no dead letter with id 999999."),
        (["replay", "--all", "--rate", "0"], "The replay rate must be above 0 and at most 1000 per second, not 0.0."),
    ],
)
def test_bad_selections_are_refused(billing: Subscription, args: list[str], error: str) -> None:
    dead_letter(billing)

    with pytest.raises(CommandError) as refused:
        run(*args)

    assert str(refused.value) == error
    assert Delivery.objects.get().state == DeliveryState.DEAD
