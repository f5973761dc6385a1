"""Tests for the `sync_topology` management command."""

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from apps.topology.models import Subscription, Topic
from tests.factories import MessageFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

VALID = """
topics:
  - {name: orders.created, description: An order was placed.}
subscriptions:
  - {name: inventory-reserve, topic: orders.created}
  - {name: billing-charge, topic: orders.created, retry: {max_attempts: 3}}
"""

# Valid except for billing-charge's retry; it would also add a topic and change a subscription.
INVALID = """
topics:
  - {name: orders.created, description: Changed.}
  - {name: orders.shipped}
subscriptions:
  - {name: inventory-reserve, topic: orders.created, paused: true}
  - {name: billing-charge, topic: orders.created, retry: {max_attempts: 0}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    return path


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_topology", *args, stdout=out)
    return out.getvalue()


def snapshot() -> tuple[list[Any], list[Any]]:
    return list(Topic.objects.order_by("pk").values()), list(Subscription.objects.order_by("pk").values())


def test_sync_creates_the_topology_and_says_what_it_did(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)

    output = sync("--file", str(path))

    assert output.splitlines() == [
        "created: topic orders.created",
        "created: subscription inventory-reserve",
        "created: subscription billing-charge",
        f"Topology synced from {path}: 3 created, 0 updated, 0 unchanged.",
    ]
    assert list(Topic.objects.values_list("name", flat=True)) == ["orders.created"]
    assert list(Subscription.objects.order_by("name").values_list("name", "max_attempts")) == [
        ("billing-charge", 3),
        ("inventory-reserve", 5),
    ]


def test_second_sync_reports_everything_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    sync("--file", str(path))

    assert sync("--file", str(path)).splitlines() == [
        f"Topology synced from {path}: 0 created, 0 updated, 3 unchanged."
    ]


def test_sync_reads_the_configured_file_by_default(tmp_path: Path, settings: Settings) -> None:
    settings.SWITCHBOARD_TOPOLOGY_FILE = write(tmp_path, VALID)
    assert (
        sync().splitlines()[-1]
        == f"Topology synced from {tmp_path / 'topology.yaml'}: 3 created, 0 updated, 0 unchanged."
    )


def test_sync_warns_about_entries_not_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    SubscriptionFactory.create(name="legacy-audit", topic=TopicFactory.create(name="legacy.events"))

    output = sync("--file", str(path))

    assert "not in topology.yaml (kept; --prune deletes it): subscription legacy-audit" in output.splitlines()
    assert "not in topology.yaml (kept; --prune deletes it): topic legacy.events" in output.splitlines()
    assert Subscription.objects.filter(name="legacy-audit").count() == 1


def test_prune_deletes_entries_not_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    SubscriptionFactory.create(name="legacy-audit", topic=TopicFactory.create(name="legacy.events"))

    output = sync("--file", str(path), "--prune")

    assert "deleted: subscription legacy-audit" in output.splitlines()
    assert "deleted: topic legacy.events" in output.splitlines()
    assert list(Topic.objects.values_list("name", flat=True)) == ["orders.created"]


def test_prune_blocked_by_messages_is_a_command_error_and_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    legacy = TopicFactory.create(name="legacy.events")
    MessageFactory.create(topic=legacy)
    before = snapshot()

    with pytest.raises(CommandError) as info:
        sync("--file", str(path), "--prune")

    assert str(info.value) == "topic legacy.events still has messages; it cannot be deleted; nothing was changed."
    assert snapshot() == before


def test_check_validates_without_writing(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)

    assert sync("--file", str(path), "--check").splitlines() == [f"{path} is valid: 1 topics, 2 subscriptions."]
    assert Topic.objects.count() == 0
    assert Subscription.objects.count() == 0


def test_check_of_a_bad_file_is_a_command_error(tmp_path: Path) -> None:
    path = write(tmp_path, INVALID)
    with pytest.raises(CommandError) as info:
        sync("--file", str(path), "--check")
    assert str(info.value) == (
        f"{path} is not valid; nothing was changed:\n"
        "  subscriptions[1] (billing-charge).retry.max_attempts: 0 is less than the minimum of 1"
    )


def test_bad_file_names_entry_and_field_and_leaves_the_database_unchanged(tmp_path: Path) -> None:
    sync("--file", str(write(tmp_path, VALID)))
    before = snapshot()
    path = write(tmp_path, INVALID)

    with pytest.raises(CommandError) as info:
        sync("--file", str(path))

    assert str(info.value) == (
        f"{path} is not valid; nothing was changed:\n"
        "  subscriptions[1] (billing-charge).retry.max_attempts: 0 is less than the minimum of 1"
    )
    assert snapshot() == before
    assert Topic.objects.filter(name="orders.shipped").count() == 0
    assert Subscription.objects.get(name="inventory-reserve").paused is False


def test_bad_file_lists_every_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_WEBHOOK_SECRETS", "whsec_" + base64.b64encode(bytes(range(32))).decode())
    path = write(
        tmp_path,
        "topics: [{name: orders.created}]\n"
        "subscriptions:\n"
        "  - {name: inventory-reserve, topic: orders.shipped}\n"
        "  - {name: audit-hook, topic: orders.created, consumer: webhook, secrets_env: AUDIT_WEBHOOK_SECRETS}\n",
    )
    with pytest.raises(CommandError) as info:
        sync("--file", str(path))
    assert str(info.value) == (
        f"{path} is not valid; nothing was changed:\n"
        "  subscriptions[0] (inventory-reserve).topic: unknown topic 'orders.shipped'; declare it under 'topics'\n"
        "  subscriptions[1] (audit-hook).url: a webhook subscription needs a url"
    )
    assert Topic.objects.count() == 0


def test_missing_file_is_a_command_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(CommandError) as info:
        sync("--file", str(path))
    assert str(info.value) == (
        f"{path} is not valid; nothing was changed:\n  {path}: cannot read: No such file or directory"
    )
