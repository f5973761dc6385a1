"""The audit log in process: each interface's actor, the row commits with the action, the API's filters."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts import audit
from apps.accounts.models import AuditEvent
from apps.deadletters import services as deadletter_services
from apps.deadletters.models import DeadLetter
from apps.topology import services as topology_services
from apps.topology.models import Subscription
from tests.deadletters.builders import dead_letter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pausing tells running workers over Redis; there are none here."""
    from apps.topology import workers

    monkeypatch.setattr(workers, "workers_stop_consuming", lambda queue: 0)
    monkeypatch.setattr(workers, "workers_start_consuming", lambda queue: 0)


def _rows() -> list[tuple[str, str, str, int]]:
    return list(AuditEvent.objects.order_by("pk").values_list("actor_kind", "actor_name", "action", "count"))


def test_the_audit_row_rolls_back_with_the_action(billing: Subscription) -> None:
    dead_letter(billing)
    with pytest.raises(RuntimeError), transaction.atomic():
        deadletter_services.dead_letters_purge(dead_letters=DeadLetter.objects.all(), actor=audit.Actor("admin", "a"))
        raise RuntimeError

    assert (DeadLetter.objects.count(), AuditEvent.objects.count()) == (1, 0)


def test_an_action_on_nothing_is_still_recorded(billing: Subscription) -> None:
    deadletter_services.dead_letters_replay(dead_letters=[], actor=audit.Actor("admin", "a"))

    assert _rows() == [("admin", "a", "dead_letters.replay", 0)]


def test_admin_actions_record_the_admin_user(billing: Subscription) -> None:
    ids = [dead_letter(billing).pk, dead_letter(billing).pk]
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw-root-123"))

    client.post("/admin/topology/subscription/", {"action": "pause", "_selected_action": [billing.pk]})
    client.post("/admin/topology/subscription/", {"action": "resume", "_selected_action": [billing.pk]})
    client.post(
        "/admin/deadletters/deadletter/",
        {"action": "replay_selected", "_selected_action": ids[:1], "confirm": "yes", "rate_per_second": "10"},
    )
    client.post(
        "/admin/deadletters/deadletter/", {"action": "purge_selected", "_selected_action": ids[1:], "confirm": "yes"}
    )
    client.post("/admin/accounts/apikey/add/", {"name": "k", "scopes": ["read"], "topic_patterns": ""})

    assert _rows() == [
        ("admin", "root", "subscription.pause", 1),
        ("admin", "root", "subscription.resume", 1),
        ("admin", "root", "dead_letters.replay", 1),
        ("admin", "root", "dead_letters.purge", 1),
        ("admin", "root", "api_key.create", 1),
    ]


def test_commands_record_the_os_user(billing: Subscription) -> None:
    call_command("subscription", "pause", "billing-charge", stdout=io.StringIO())
    call_command("api_key_create", "--name", "c", "--scopes", "read", stdout=io.StringIO())
    call_command("api_key_revoke", "c", stdout=io.StringIO())

    user = audit.Actor.from_command().name
    assert _rows() == [
        ("command", user, "subscription.pause", 1),
        ("command", user, "api_key.create", 1),
        ("command", user, "api_key.revoke", 1),
    ]


def test_the_audit_api_filters_and_pages(authenticated_client: APIClient, billing: Subscription) -> None:
    for _ in range(3):
        topology_services.subscription_pause(subscription=billing, actor=audit.Actor("api_key", "ops", "10.0.0.1"))
    topology_services.subscription_resume(subscription=billing, actor=audit.Actor("admin", "root"))

    paused = authenticated_client.get("/api/v1/audit-events?action=subscription.pause&limit=2").json()
    by_root = authenticated_client.get("/api/v1/audit-events?actor=root").json()
    bad = authenticated_client.get("/api/v1/audit-events?since=yesterday&limit=0")

    assert (paused["count"], len(paused["results"]), paused["results"][0]["ip"]) == (3, 2, "10.0.0.1")
    assert [e["action"] for e in by_root["results"]] == ["subscription.resume"]
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"since"}


def test_topology_changes_over_rest_are_audited(authenticated_client: APIClient, billing: Subscription) -> None:
    authenticated_client.post("/api/v1/topics", {"name": "payments.made"}, format="json")
    authenticated_client.patch("/api/v1/topics/payments.made", {"description": "money"}, format="json")
    authenticated_client.post(
        "/api/v1/subscriptions",
        {"name": "ledger", "topic": "payments.made", "handler": "billing-charge"},
        format="json",
    )
    authenticated_client.patch("/api/v1/subscriptions/ledger", {"max_attempts": 3}, format="json")
    authenticated_client.delete("/api/v1/subscriptions/ledger")
    authenticated_client.delete("/api/v1/topics/payments.made")

    assert [(kind, name, action) for kind, name, action, _ in _rows() if action != "api_key.create"] == [
        ("api_key", "tests", action)
        for action in [
            "topic.create",
            "topic.update",
            "subscription.create",
            "subscription.update",
            "subscription.delete",
            "topic.delete",
        ]
    ]


def test_cancelling_a_message_is_audited(authenticated_client: APIClient, billing: Subscription) -> None:
    from tests.factories import DeliveryFactory, MessageFactory

    message = MessageFactory.create(topic=billing.topic)
    DeliveryFactory.create(message=message, subscription=billing)

    response = authenticated_client.post(f"/api/v1/messages/{message.pk}/cancel")

    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="message.cancel")
    assert (event.actor_name, event.count, event.targets["message"]) == ("tests", 1, str(message.pk))


def test_topology_changes_in_the_admin_are_audited(billing: Subscription) -> None:
    from apps.topology.models import Topic

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw-root-123"))
    topic = Topic.objects.get(name="orders.created")

    client.post(
        f"/admin/topology/topic/{topic.pk}/change/",
        {
            "name": "orders.created",
            "description": "changed",
            "unroutable": topic.unroutable,
            "subscriptions-TOTAL_FORMS": "0",
            "subscriptions-INITIAL_FORMS": "0",
        },
    )
    client.post(f"/admin/topology/subscription/{billing.pk}/delete/", {"post": "yes"})

    assert [(a, n) for _, n, a, _ in _rows()] == [("topic.update", "root"), ("subscription.delete", "root")]
