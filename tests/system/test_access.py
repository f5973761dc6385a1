"""Who may do what, through gunicorn: every endpoint of the URL map against a key of each scope."""

from collections.abc import Iterator

import httpx
import pytest

from apps.accounts.scopes import SCOPE_NAMES, Scope
from apps.accounts.services import api_key_create
from apps.core.api.problems import PROBLEM_CONTENT_TYPE
from apps.topology.models import Subscription
from tests.accounts.endpoints import api_endpoints
from tests.deadletters.builders import dead_letter
from tests.harness.stack import WebServer
from tests.system.api import CLIENT_TIMEOUT


@pytest.fixture
def http(web: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.base_url, timeout=CLIENT_TIMEOUT) as client:
        yield client


@pytest.fixture
def scoped_keys(transactional_db: None) -> dict[str, str]:
    """One key per scope, each holding that scope only."""
    return {scope: api_key_create(name=f"only-{scope}", scopes=[scope])[1] for scope in SCOPE_NAMES}


def _call(
    http: httpx.Client, method: str, path: str, raw_key: str | None, body: dict[str, object] | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}
    if body is None and method in {"POST", "PUT", "PATCH", "DELETE"}:
        body = {}
    return http.request(method, path, json=body, headers=headers)


def test_each_endpoint_refuses_each_key_without_its_scope(http: httpx.Client, scoped_keys: dict[str, str]) -> None:
    wrong: list[str] = []
    table = api_endpoints()
    for endpoint in table:
        for scope, raw_key in scoped_keys.items():
            response = _call(http, endpoint.method, endpoint.path(), raw_key)
            if scope in {endpoint.required_scope, Scope.ADMIN}:
                if response.status_code in {401, 403}:
                    wrong.append(f"{endpoint} with {scope}: {response.status_code} {response.text}")
            elif (
                response.status_code != 403
                or response.headers["Content-Type"] != PROBLEM_CONTENT_TYPE
                or response.json().get("required_scope") != endpoint.required_scope
            ):
                wrong.append(f"{endpoint} with {scope}: {response.status_code} {response.text}")
    print(f"endpoints={len(table)} scopes={len(scoped_keys)} requests={len(table) * len(scoped_keys)}")
    assert wrong == []


def test_each_endpoint_answers_401_without_a_key(http: httpx.Client) -> None:
    statuses = {str(e): _call(http, e.method, e.path(), None).status_code for e in api_endpoints()}
    assert set(statuses.values()) == {401}, statuses


def test_each_endpoint_hides_the_topics_outside_the_key(http: httpx.Client, api_key: str) -> None:
    """A key limited to `payments.*` gets 404 for everything of orders.created, and empty lists."""
    message_id = _call(http, "POST", "/api/v1/topics/orders.created/messages", api_key, {"payload": {}}).json()["id"]
    dead = dead_letter(Subscription.objects.get(name="billing-charge")).pk
    bodies: dict[str, dict[str, object]] = {
        "topic-messages": {"payload": {}},
        "topic-messages-batch": {"messages": [{"payload": {}}]},
        "dead-letter-list": {"ids": [dead]},
        "dead-letter-replay": {"ids": [dead]},
        "topic-list": {"name": "orders.new"},
        "subscription-list": {"name": "spy", "topic": "orders.created", "handler": "billing-charge"},
    }
    hidden = ["orders.created", "billing-charge", "inventory-reserve", "email-send", str(dead), message_id]
    restricted = api_key_create(name="payments", scopes=[Scope.ADMIN], topic_patterns=["payments.*"])[1]
    wrong: list[str] = []
    for endpoint in api_endpoints():
        name = "orders.created" if endpoint.url_name.startswith("topic-") else "billing-charge"
        path = endpoint.path(message_id=message_id, dead_letter_id=dead, name=name)
        response = _call(http, endpoint.method, path, restricted, bodies.get(endpoint.url_name))
        if endpoint.method == "GET" and not endpoint.kwargs:
            # A list: the key's own topics only (none here), or 404 for what spans every team.
            if response.status_code not in {200, 404} or any(n in response.text for n in hidden):
                wrong.append(f"{endpoint}: {response.status_code} {response.text}")
        elif response.status_code != 404:
            wrong.append(f"{endpoint}: {response.status_code} {response.text}")
    assert wrong == []
    # The same objects are there for a key that may see them.
    assert _call(http, "GET", f"/api/v1/dead-letters/{dead}", api_key).status_code == 200
    assert _call(http, "GET", f"/api/v1/messages/{message_id}", api_key).status_code == 200
