"""Bad input answers 4xx problem details and writes nothing, single and batch (run on SQLite and PostgreSQL)."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.publishing.models import Message
from apps.topology.models import Topic
from tests.publishing.bad_inputs import BAD_BODIES, BAD_MESSAGES, batch_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/topics/orders.created/messages"


def _post(client: APIClient, path: str, body: str, **headers: Any) -> Any:
    return client.generic("POST", path, body, content_type="application/json", **headers)


@pytest.mark.parametrize(("name", "body"), BAD_MESSAGES + BAD_BODIES, ids=[n for n, _ in BAD_MESSAGES + BAD_BODIES])
def test_a_bad_message_is_refused_with_a_4xx(
    authenticated_client: APIClient, orders_topic: Topic, name: str, body: str
) -> None:
    response = _post(authenticated_client, URL, body)

    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert Message.objects.count() == 0


@pytest.mark.parametrize(("name", "body"), BAD_MESSAGES, ids=[n for n, _ in BAD_MESSAGES])
def test_a_bad_item_fails_alone_or_fails_the_batch_naming_it(
    authenticated_client: APIClient, orders_topic: Topic, name: str, body: str
) -> None:
    response = _post(authenticated_client, f"{URL}/batch", batch_of(body))

    if response.status_code == 202:
        results = response.json()["results"]
        assert "id" in results[0]
        assert 400 <= results[1]["error"]["status"] < 500
        assert Message.objects.count() == 1
    else:
        assert response.status_code == 400, response.content
        assert any(path.startswith("messages[1]") for path in response.json()["errors"])
        assert Message.objects.count() == 0


def test_nul_errors_name_the_path_of_the_value(authenticated_client: APIClient, orders_topic: Topic) -> None:
    response = _post(authenticated_client, URL, r'{"payload": {"a": [1, {"b\u0000": 2}]}}')

    assert response.json()["errors"] == {
        "payload.a[1].b\x00": ["Contains the NUL character (U+0000), which cannot be stored."]
    }


def test_integers_within_64_bits_are_kept_exactly(authenticated_client: APIClient, orders_topic: Topic) -> None:
    body = '{"payload": {"big": 9223372036854775807, "small": -9223372036854775808}}'

    assert _post(authenticated_client, URL, body).status_code == 202

    assert Message.objects.get().payload == {"big": 2**63 - 1, "small": -(2**63)}


@pytest.mark.parametrize(
    "path", ["/api/v1/topics/a%00b/messages", "/api/v1/subscriptions/a%00b", "/api/v1/dead-letters?topic=a%00"]
)
def test_nul_in_the_path_or_query_is_refused(authenticated_client: APIClient, path: str) -> None:
    response = authenticated_client.generic("GET" if "dead" in path else "POST", path)

    assert response.status_code == 400
    assert response.json()["detail"] == "The path or query string contains the NUL character (U+0000)."


def test_an_idempotency_key_with_nul_or_over_255_characters_is_refused(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    for key in ["k" * 256, "a\x00b"]:
        response = _post(authenticated_client, URL, '{"payload": {}}', HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 400, key
    assert Message.objects.count() == 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(["payload", "attributes", "key", "delay_seconds", "deliver_at", "ttl_seconds", "other"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON | st.dictionaries(FIELDS, JSON, max_size=4), batch=st.booleans())
def test_arbitrary_json_never_answers_5xx_nor_half_writes(
    authenticated_client: APIClient, orders_topic: Topic, body: Any, batch: bool
) -> None:
    before = Message.objects.count()
    payload = {"messages": [body, {"payload": 1}]} if batch else body
    response = _post(authenticated_client, URL + ("/batch" if batch else ""), json.dumps(payload))

    assert response.status_code < 500, response.content
    written = Message.objects.count() - before
    if response.status_code == 202:
        expected = response.json()["accepted"] if batch else 1
        assert written == expected
    else:
        assert written == 0
