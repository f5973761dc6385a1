"""Who may do what, through gunicorn: every endpoint of the URL map against a key of each scope."""

from collections.abc import Iterator

import httpx
import pytest

from apps.accounts.scopes import SCOPE_NAMES, Scope
from apps.accounts.services import api_key_create
from apps.core.api.problems import PROBLEM_CONTENT_TYPE
from tests.accounts.endpoints import api_endpoints
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


def _call(http: httpx.Client, method: str, path: str, raw_key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}
    body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH", "DELETE"} else None
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
