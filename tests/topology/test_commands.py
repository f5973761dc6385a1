"""Tests for `manage.py subscription stats` and `manage.py topology export`."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.delivery.models import DeliveryState
from apps.topology import services
from apps.topology.loader import topology_read
from tests.factories import DeliveryFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.usefixtures("celery_broker")
def test_subscription_stats_as_json_and_text() -> None:
    subscription = SubscriptionFactory.create(name="billing-charge")
    DeliveryFactory.create_batch(2, subscription=subscription, message__topic=subscription.topic)
    DeliveryFactory.create(subscription=subscription, message__topic=subscription.topic, state=DeliveryState.DEAD)

    stats = json.loads(run("subscription", "stats", "billing-charge", "--json"))
    text = run("subscription", "stats", "billing-charge")

    assert (stats["deliveries"], stats["outbox"], stats["queued"], stats["consumers"]) == (
        {"pending": 2, "retrying": 0, "delivered": 0, "dead": 1, "cancelled": 0},
        2,
        0,
        None,
    )
    assert "deliveries: pending 2, retrying 0, delivered 0, dead 1, cancelled 0" in text.splitlines()
    assert "consumers: ?" in text.splitlines()


def test_subscription_stats_of_an_unknown_subscription_is_one_line() -> None:
    with pytest.raises(CommandError) as info:
        run("subscription", "stats", "nope")
    assert str(info.value) == "There is no subscription named 'nope'."


def test_topology_export_writes_what_sync_topology_reads_back_unchanged(tmp_path: Path) -> None:
    call_command("sync_topology", verbosity=0)
    path = tmp_path / "exported.yaml"

    run("topology", "export", "--output", str(path))

    assert path.read_text() == run("topology", "export")
    report = services.topology_sync(spec=topology_read(path))
    assert (report.created, report.updated) == ([], [])
