"""Every operator action, through the API (gunicorn), the admin (gunicorn) and a command, leaves an audit row."""

import re
import subprocess
import sys

import httpx
from django.contrib.auth import get_user_model

from apps.accounts.audit import Actor
from apps.accounts.models import ApiKey, AuditEvent
from apps.topology.models import Subscription
from tests.deadletters.builders import dead_letter
from tests.harness.processes import ROOT
from tests.harness.stack import Stack, WebServer
from tests.system.api import CLIENT_TIMEOUT

OPERATOR_ACTIONS = {
    "dead_letters.replay",
    "dead_letters.purge",
    "subscription.pause",
    "subscription.resume",
    "topology.sync",
    "api_key.create",
    "api_key.revoke",
}


def _dead_letters(count: int) -> list[int]:
    billing = Subscription.objects.get(name="billing-charge")
    return [dead_letter(billing).pk for _ in range(count)]


def _admin_client(web: WebServer) -> httpx.Client:
    get_user_model().objects.create_superuser("auditor", "", "auditor-password-1")
    client = httpx.Client(base_url=web.base_url, timeout=CLIENT_TIMEOUT, follow_redirects=True)
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/?next=/admin/",
        data={
            "username": "auditor",
            "password": "auditor-password-1",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    assert response.status_code == 200 and "Log out" in response.text, response.text[:500]
    return client


def _admin_action(client: httpx.Client, path: str, action: str, ids: list[int], **extra: str) -> httpx.Response:
    data = {"action": action, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(path, data={**data, "csrfmiddlewaretoken": client.cookies["csrftoken"]})


def test_api_actions_are_audited_with_the_key_and_address(client: httpx.Client, api_key: str) -> None:
    first, second, _third = _dead_letters(3)
    assert client.post("/api/v1/subscriptions/billing-charge/pause").status_code == 200
    assert client.post("/api/v1/subscriptions/billing-charge/resume").status_code == 200
    assert client.post("/api/v1/dead-letters/replay", json={"ids": [first]}).status_code == 202
    assert client.request("DELETE", "/api/v1/dead-letters", json={"filter": {"reason": "exhausted"}}).status_code == 200

    page = client.get("/api/v1/audit-events", params={"actor": "tests", "limit": 10}).json()

    rows = [(e["actor_kind"], e["actor_name"], e["action"], e["targets"], e["count"], e["ip"]) for e in page["results"]]
    assert rows == [
        ("api_key", "tests", "dead_letters.purge", {"filter": {"reason": "exhausted"}}, 3, "127.0.0.1"),
        ("api_key", "tests", "dead_letters.replay", {"ids": [first]}, 1, "127.0.0.1"),
        ("api_key", "tests", "subscription.resume", {"subscription": "billing-charge"}, 1, "127.0.0.1"),
        ("api_key", "tests", "subscription.pause", {"subscription": "billing-charge"}, 1, "127.0.0.1"),
    ]
    assert page["count"] == 4
    replays = client.get("/api/v1/audit-events", params={"action": "dead_letters.replay"}).json()
    assert (replays["count"], second not in replays["results"][0]["targets"]["ids"]) == (1, True)


def test_admin_actions_are_audited_with_the_admin_user(web: WebServer) -> None:
    ids = _dead_letters(2)
    billing = Subscription.objects.get(name="billing-charge").pk
    admin = _admin_client(web)
    try:
        _admin_action(admin, "/admin/topology/subscription/", "pause", [billing])
        _admin_action(admin, "/admin/topology/subscription/", "resume", [billing])
        _admin_action(
            admin, "/admin/deadletters/deadletter/", "replay_selected", ids[:1], confirm="yes", rate_per_second="10"
        )
        _admin_action(admin, "/admin/deadletters/deadletter/", "purge_selected", ids[1:], confirm="yes")
        created = admin.post(
            "/admin/accounts/apikey/add/",
            data={
                "name": "from-admin",
                "scopes": ["read"],
                "topic_patterns": "",
                "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            },
        )
        assert len(set(re.findall(r"sb_[A-Za-z0-9]+_[A-Za-z0-9_-]{30,}", created.text))) == 1
        _admin_action(admin, "/admin/accounts/apikey/", "revoke", [ApiKey.objects.get(name="from-admin").pk])

    finally:
        admin.close()
    rows = set(AuditEvent.objects.filter(actor_kind="admin").values_list("actor_name", "action", "count", "ip"))
    assert rows == {("auditor", action, 1, "127.0.0.1") for action in OPERATOR_ACTIONS - {"topology.sync"}}


def _manage(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_command_actions_are_audited_with_the_os_user(stack: Stack, demo_topology: None) -> None:
    ids = _dead_letters(2)
    # The fixture shortened the retry waits: sync_topology sets every subscription back as the file says.
    subscriptions = {f"subscription {name}" for name in Subscription.objects.values_list("name", flat=True)}
    before = max(AuditEvent.objects.values_list("pk", flat=True), default=0)  # the fixture's own sync_topology
    _manage(stack, "subscription", "pause", "billing-charge")
    _manage(stack, "subscription", "resume", "billing-charge")
    _manage(stack, "dead_letters", "replay", "--id", str(ids[0]))
    _manage(stack, "dead_letters", "purge", "--reason", "exhausted")
    _manage(stack, "sync_topology")
    _manage(stack, "api_key_create", "--name", "from-command", "--scopes", "read")
    _manage(stack, "api_key_revoke", "from-command")

    events = list(AuditEvent.objects.filter(actor_kind="command", pk__gt=before).order_by("pk"))
    assert [(e.action, e.count) for e in events] == [
        ("subscription.pause", 1),
        ("subscription.resume", 1),
        ("dead_letters.replay", 1),
        ("dead_letters.purge", 2),
        ("topology.sync", len(subscriptions)),
        ("api_key.create", 1),
        ("api_key.revoke", 1),
    ]
    assert {e.action for e in events} == OPERATOR_ACTIONS
    assert events[3].targets == {"filter": {"reason": "exhausted"}}
    assert (set(events[4].targets["updated"]), events[4].targets["created"]) == (subscriptions, [])
    # The commands run as this process's OS user.
    assert {e.actor_name for e in events} == {Actor.from_command().name}
