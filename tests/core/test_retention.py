"""Retention: a simulated month of steady traffic keeps the tables bounded and never deletes what is open.

Time is moved by the test (time-machine), not slept: each simulated day publishes
through `publish()`, finishes deliveries through the ledger, and runs every retention
policy as beat would.
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Q
from pytest_django.fixtures import Settings

from apps.core import retention
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import ledger
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryAttempt, DeliveryState
from apps.monitoring.models import AlertIncident
from apps.publishing import idempotency
from apps.publishing.models import IdempotencyKey, Message
from apps.publishing.services import publish, publish_idempotent
from apps.topology.models import Subscription, Topic
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAYS = 60


@pytest.fixture
def topology() -> None:
    orders = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing", topic=orders)
    SubscriptionFactory.create(name="inventory", topic=orders)
    SubscriptionFactory.create(name="archive", topic=TopicFactory.create(name="audit.events"), paused=True)
    SubscriptionFactory.create(name="clicks-count", topic=TopicFactory.create(name="clicks", retention_days=1))


def deliveries(message: Message) -> dict[str, Delivery]:
    return {d.subscription.name: d for d in message.deliveries.select_related("message", "subscription")}


def delivered(delivery: Delivery) -> None:
    assert ledger.delivery_mark_delivered(delivery_id=delivery.pk, subscription=delivery.subscription.name, attempt=1)


def one_day(day: int) -> None:
    """Publish one day's traffic and finish what finishes that day."""
    for n in range(10):  # delivered everywhere, one webhook-style attempt row each
        message = publish(topic="orders.created", payload={"day": day, "n": n})
        for delivery in deliveries(message).values():
            DeliveryAttempt.objects.create(delivery=delivery, attempt=1, started_at=START, duration_ms=3)
            delivered(delivery)
    for n in range(2):  # billing dead-lettered, inventory delivered
        message = publish(topic="orders.created", payload={"day": day, "failed": n})
        by_name = deliveries(message)
        assert ledger.delivery_mark_dead(
            delivery=by_name["billing"], reason=DeadLetterReason.PERMANENT, attempts=1, error="boom"
        )
        delivered(by_name["inventory"])
    message = publish(topic="orders.created", payload={"day": day, "retrying": True})
    by_name = deliveries(message)
    assert ledger.delivery_mark_retrying(
        delivery_id=by_name["billing"].pk, subscription="billing", attempt=1, error="later", due=START
    )
    delivered(by_name["inventory"])
    publish(topic="audit.events", payload={"day": day})  # its subscription is paused: pending for ever
    click = publish(topic="clicks", payload={"day": day})
    delivered(deliveries(click)["clicks-count"])
    receipt = publish_idempotent(
        scope=idempotency.PYTHON_SCOPE, key=f"click-{day}", fields={"topic": "clicks", "payload": {"day": day}}
    )
    delivered(deliveries(Message.objects.get(pk=receipt.body["id"]))["clicks-count"])


def retention_run_all() -> None:
    for policy in retention.retention_policies():
        retention.retention_run(policy)


def test_a_simulated_month_keeps_row_counts_bounded_and_deletes_nothing_open(topology: None) -> None:
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        delayed = publish(topic="orders.created", payload={"delayed": True}, delay_seconds=90 * 86400)
    open_ids: set[int] = {d.pk for d in delayed.deliveries.all()}
    sizes = []
    for day in range(DAYS):
        with time_machine.travel(START + timedelta(days=day), tick=False):
            one_day(day)
            open_ids |= set(Delivery.objects.filter(state__in=OPEN_STATES).values_list("pk", flat=True))
        with time_machine.travel(START + timedelta(days=day, minutes=30), tick=False):
            retention_run_all()
            sizes.append(Message.objects.count())
            # Nothing open ever goes, nor a dead letter inside its 30 days.
            assert set(Delivery.objects.filter(pk__in=open_ids).values_list("pk", flat=True)) == open_ids
            assert DeadLetter.objects.count() == 2 * min(day + 1, 30)

    # The last run was on day 59 at 12:30: orders are kept 7 days (days 53-59), clicks 1
    # day (day 59), dead letters 30 days (days 30-59) and their messages with them; a
    # day-29 dead letter went in this run, after the messages' policy, so its message
    # goes in the next one. Open deliveries stay whatever their age.
    print(f"simulated_days={DAYS} messages_by_day={sizes[::10]} open_deliveries={len(open_ids)}")
    assert len(open_ids) == 2 * 60 + 2  # paused archive and retrying billing per day, the delayed message's two
    counts = {
        "messages": Message.objects.count(),
        "deliveries": Delivery.objects.count(),
        "attempts": DeliveryAttempt.objects.count(),
        "dead_letters": DeadLetter.objects.count(),
        "idempotency_keys": IdempotencyKey.objects.count(),
    }
    assert counts == {
        "messages": 7 * 10 + 31 * 2 + 60 + 60 + 2 + 1,
        "deliveries": 7 * 10 * 2 + 31 * 2 * 2 + 60 * 2 + 60 + 2 + 2,
        "attempts": 7 * 10 * 2,
        "dead_letters": 30 * 2,
        "idempotency_keys": 1,
    }
    # Bounded: after the first 30 days the table stops growing but for what stays open.
    assert sizes[-1] - sizes[30] == 2 * (DAYS - 1 - 30)
    assert Delivery.objects.filter(state=DeliveryState.PENDING, message=delayed).count() == 2


def test_a_message_finished_lately_stays_although_published_long_ago(topology: None) -> None:
    with time_machine.travel(START, tick=False):
        message = publish(topic="orders.created", payload={}, delay_seconds=10 * 86400)
    with time_machine.travel(START + timedelta(days=10), tick=False):
        for delivery in deliveries(message).values():
            delivered(delivery)
    with time_machine.travel(START + timedelta(days=12), tick=False):
        retention_run_all()
        assert Message.objects.filter(pk=message.pk).exists()
    with time_machine.travel(START + timedelta(days=17, minutes=1), tick=False):
        retention_run_all()
        assert not Message.objects.filter(pk=message.pk).exists()


def test_a_run_is_bounded_by_its_chunks(topology: None) -> None:
    with time_machine.travel(START, tick=False):
        for n in range(25):
            delivered(deliveries(publish(topic="clicks", payload={"n": n}))["clicks-count"])
    policy = retention.RetentionPolicy(**{**retention.retention_policy("messages").__dict__, "chunk_size": 10})
    later = START + timedelta(days=2)

    assert retention.retention_run(policy, now=later, max_chunks=2) == 20
    assert Message.objects.count() == 5
    assert retention.retention_run(policy, now=later, max_chunks=2) == 5


def test_the_command_counts_per_policy_then_deletes(topology: None) -> None:
    with time_machine.travel(START, tick=False):
        for n in range(3):
            delivered(deliveries(publish(topic="clicks", payload={"n": n}))["clicks-count"])
    out = io.StringIO()
    with time_machine.travel(START + timedelta(days=2), tick=False):
        call_command("retention", "--dry-run", stdout=out)
        assert Message.objects.count() == 3
        call_command("retention", "--policy", "messages", stdout=out, stderr=io.StringIO())

    assert out.getvalue().splitlines() == [
        "audit-events: 0 would be deleted (audit events past SWITCHBOARD_AUDIT_RETENTION_DAYS)",
        "messages: 3 would be deleted (finished messages (with their deliveries and attempts) past their topic's "
        "retention)",
        "idempotency-keys: 0 would be deleted (expired idempotency keys)",
        "dead-letters: 0 would be deleted (dead letters past SWITCHBOARD_DEAD_LETTER_RETENTION_DAYS)",
        "alert-incidents: 0 would be deleted (resolved alert incidents past SWITCHBOARD_ALERT_RETENTION_DAYS)",
        "messages: 3 deleted",
    ]
    assert Message.objects.count() == 0
    assert Topic.objects.count() == 3 and Subscription.objects.filter(~Q(name="")).count() == 4


def test_resolved_alert_incidents_go_after_their_retention_and_firing_ones_stay() -> None:
    fired = START - timedelta(days=40)
    AlertIncident.objects.create(rule="depth", subscription="a", severity="warning", fired_at=fired, fired_value=1)
    AlertIncident.objects.create(
        rule="depth", subscription="b", severity="warning", fired_at=fired, fired_value=1,
        resolved_at=fired + timedelta(hours=1), resolved_value=0,
    )  # fmt: skip

    assert retention.retention_run(retention.retention_policy("alert-incidents"), now=START) == 1
    assert list(AlertIncident.objects.values_list("subscription", flat=True)) == ["a"]


def test_every_policy_has_a_beat_entry(settings: Settings) -> None:
    scheduled = {
        entry["kwargs"]["policy"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "core.retention_run"
    }
    assert scheduled == {policy.name for policy in retention.retention_policies()}
