"""Workers follow the subscriptions' `paused` flags; the commands say when Redis cannot be told."""

import io
from types import SimpleNamespace

import pytest
import redis
from django.core.management import call_command

from apps.topology.models import Subscription
from apps.topology.workers import QueueChanges, queue_changes, queues_reconcile
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


class FakeConsumer:
    """What queues_reconcile uses of Celery's Consumer: its task consumer's queues, add and cancel."""

    def __init__(self, consuming: list[str], *, fail: bool = False) -> None:
        self.task_consumer = SimpleNamespace(queues=[SimpleNamespace(name=name) for name in consuming])
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    def add_task_queue(self, queue: str) -> None:
        if self.fail:
            raise redis.ConnectionError("gone")
        self.calls.append(("add", queue))

    def cancel_task_queue(self, queue: str) -> None:
        if self.fail:
            raise redis.ConnectionError("gone")
        self.calls.append(("cancel", queue))


@pytest.mark.django_db
def test_a_worker_reconciles_with_the_flags_in_the_database() -> None:
    SubscriptionFactory.create(name="billing", paused=True)
    SubscriptionFactory.create(name="inventory")
    consumer = FakeConsumer(["sb.control", "sb.billing"])

    changes = queues_reconcile(consumer)

    assert changes == QueueChanges(start=["sb.inventory"], stop=["sb.billing"])
    assert consumer.calls == [("cancel", "sb.billing"), ("add", "sb.inventory")]


@pytest.mark.django_db
def test_a_worker_that_lost_redis_tries_again_next_time() -> None:
    SubscriptionFactory.create(name="inventory")

    assert queues_reconcile(FakeConsumer(["sb.control"], fail=True)) is None
    assert queues_reconcile(SimpleNamespace(task_consumer=None)) is None  # reconnecting
