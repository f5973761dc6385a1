"""Workers follow the subscriptions' `paused` flags; the commands say when Redis cannot be told."""

import io

import pytest
from django.core.management import call_command

from apps.topology.models import Subscription
from apps.topology.workers import QueueChanges, queue_changes
from tests.factories import SubscriptionFactory

FLAGS = {"sb.billing": False, "sb.inventory": True, "sb.email": False}


def test_a_worker_without_q_consumes_every_active_subscription_and_only_those() -> None:
    changes = queue_changes(
        consuming=["sb.control", "sb.billing", "sb.inventory", "sb.gone"], paused=FLAGS, chosen=None
    )

    assert changes == QueueChanges(start=["sb.email"], stop=["sb.gone", "sb.inventory"])


def test_a_worker_with_q_keeps_to_its_choice_less_the_paused() -> None:
    chosen = frozenset({"sb.billing", "sb.inventory", "sb.not-yet-declared"})

    changes = queue_changes(consuming=["sb.control"], paused=FLAGS, chosen=chosen)

    assert changes == QueueChanges(start=["sb.billing", "sb.not-yet-declared"], stop=[])


def test_a_worker_that_matches_the_database_changes_nothing() -> None:
    changes = queue_changes(consuming=["sb.control", "sb.billing", "sb.email"], paused=FLAGS, chosen=None)

    assert changes == QueueChanges(start=[], stop=[])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "paused", "said"), [("pause", True, "Paused billing"), ("resume", False, "Resumed billing")]
)
def test_pause_with_redis_unreachable_saves_the_flag_and_says_so_in_one_line(
    action: str, paused: bool, said: str
) -> None:
    SubscriptionFactory.create(name="billing", paused=not paused)
    out, err = io.StringIO(), io.StringIO()

    call_command("subscription", action, "billing", stdout=out, stderr=err)  # the test settings' Redis is closed

    assert out.getvalue().startswith(said)
    assert err.getvalue().splitlines() == [
        "Redis is unreachable, so running workers were not told; they follow the saved flag within 1 s of "
        "reaching Redis and the database."
    ]
    assert Subscription.objects.get(name="billing").paused is paused
