"""Tests for the publishing REST API: publish to a topic, read a message's deliveries."""

import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing import idempotency
from apps.publishing.models import IdempotencyKey, Message
from apps.topology.models import Subscription, Topic
from tests.factories import DeliveryFactory, MessageFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

PUBLISH_URL = "/api/v1/topics/orders.created/messages"
PROBLEM_TYPE = "https://switchboard.dev/problems/"
ORDER = {"order_id": "o-1001", "items": [{"sku": "A-1", "qty": 2}], "total": "19.90"}


def post_json(client: APIClient, body: Any, url: str = PUBLISH_URL, **headers: Any) -> Any:
    return client.post(url, data=orjson.dumps(body), content_type="application/json", **headers)


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is RFC 9457 problem details with this status and type; return its body."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = orjson.loads(response.content)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["type"] == PROBLEM_TYPE + code
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_nothing_published() -> None:
    assert Message.objects.count() == 0
    assert Delivery.objects.count() == 0


# Publishing.


def test_publish_is_accepted_and_stores_the_message_with_pending_deliveries(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    response = post_json(
        authenticated_client, {"payload": ORDER, "attributes": {"region": "eu-west-1"}, "key": "customer-42"}
    )

    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    body = orjson.loads(response.content)
    assert set(body) == {"id", "topic", "published_at"}
    message = Message.objects.get()
    assert body["id"] == str(message.id)
    assert body["topic"] == "orders.created"
    assert parse_datetime(body["published_at"]) == message.published_at
    assert uuid.UUID(body["id"]).version == 7
    assert message.topic == orders_topic
    assert (message.payload, message.attributes, message.key) == (ORDER, {"region": "eu-west-1"}, "customer-42")
    deliveries = Delivery.objects.filter(message=message).order_by("subscription__name")
    assert [(d.subscription.name, d.state, d.attempts, d.last_error) for d in deliveries] == [
        ("billing-charge", DeliveryState.PENDING, 0, ""),
        ("inventory-reserve", DeliveryState.PENDING, 0, ""),
    ]


def test_publish_with_only_a_payload_defaults_attributes_and_key(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    response = post_json(authenticated_client, {"payload": [1, "two", None]})

    assert response.status_code == 202
    message = Message.objects.get()
    assert (message.payload, message.attributes, message.key) == ([1, "two", None], {}, "")
    assert Delivery.objects.filter(message=message, state=DeliveryState.PENDING).count() == 2


@pytest.mark.parametrize("payload", ["text", 42, 1.5, True, {}, []])
def test_any_json_value_is_a_payload(authenticated_client: APIClient, orders_topic: Topic, payload: Any) -> None:
    response = post_json(authenticated_client, {"payload": payload})
    assert response.status_code == 202
    assert Message.objects.get().payload == payload


def test_publish_creates_one_delivery_per_subscription_of_the_topic_only(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    SubscriptionFactory.create(name="shipping-notify", topic=TopicFactory.create(name="orders.shipped"))

    response = post_json(authenticated_client, {"payload": ORDER})

    assert response.status_code == 202
    assert sorted(Delivery.objects.values_list("subscription__name", flat=True)) == [
        "billing-charge",
        "inventory-reserve",
    ]


def test_subscription_whose_filter_policy_does_not_match_gets_no_delivery(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    Subscription.objects.filter(name="billing-charge").update(filter_policy={"region": ["us-east-1"]})

    response = post_json(authenticated_client, {"payload": ORDER, "attributes": {"region": "eu-west-1"}})

    assert response.status_code == 202
    assert list(Delivery.objects.values_list("subscription__name", flat=True)) == ["inventory-reserve"]


# Authentication.


def test_publish_without_authorization_is_401(api_client: APIClient, orders_topic: Topic) -> None:
    response = post_json(api_client, {"payload": ORDER})

    body = problem_of(response, 401, "not-authenticated")
    assert body["detail"] == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"] == 'Bearer realm="switchboard"'
    assert_nothing_published()


def test_publish_with_a_wrong_key_is_401(api_client: APIClient, api_key: str, orders_topic: Topic) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}x")

    body = problem_of(post_json(api_client, {"payload": ORDER}), 401, "authentication-failed")

    assert body["detail"] == "Unknown or revoked API key."
    assert_nothing_published()


def test_publish_with_a_revoked_key_is_401(api_client: APIClient, orders_topic: Topic) -> None:
    api_key, raw_key = api_key_create(name="retired")
    api_key_revoke(api_key=api_key)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    body = problem_of(post_json(api_client, {"payload": ORDER}), 401, "authentication-failed")

    assert body["detail"] == "Unknown or revoked API key."
    assert_nothing_published()


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token sb_abc_def", "Use the header 'Authorization: Bearer <api key>'."),
        ("Bearer", "Use the header 'Authorization: Bearer <api key>'."),
        ("Bearer not-a-key", "API keys look like sb_<prefix>_<secret>."),
    ],
)
def test_publish_with_a_malformed_authorization_header_is_401(
    api_client: APIClient, orders_topic: Topic, header: str, detail: str
) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=header)

    body = problem_of(post_json(api_client, {"payload": ORDER}), 401, "authentication-failed")

    assert body["detail"] == detail
    assert "errors" not in body
    assert_nothing_published()


# Bad requests.


def test_publish_to_an_unknown_topic_is_404(authenticated_client: APIClient, orders_topic: Topic) -> None:
    response = post_json(authenticated_client, {"payload": ORDER}, url="/api/v1/topics/orders.shipped/messages")

    body = problem_of(response, 404, "unknown-topic")
    assert body["title"] == "Unknown topic"
    assert body["detail"] == "There is no topic named 'orders.shipped'."
    assert_nothing_published()


@pytest.mark.parametrize("raw", [b'{"payload": ', b"{payload: 1}", b"not json", b'{"payload": 1}}'])
def test_malformed_json_is_400(authenticated_client: APIClient, orders_topic: Topic, raw: bytes) -> None:
    response = authenticated_client.post(PUBLISH_URL, data=raw, content_type="application/json")

    body = problem_of(response, 400, "parse-error")
    assert body["detail"].startswith("The request body is not valid JSON: ")
    assert_nothing_published()


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({}, "payload"),
        ({"attributes": {"region": "eu"}}, "payload"),
        ({"payload": None}, "payload"),
        ({"payload": ORDER, "attributes": "region=eu"}, "attributes"),
        ({"payload": ORDER, "attributes": ["region", "eu"]}, "attributes"),
        ({"payload": ORDER, "attributes": {"retries": 3}}, "attributes"),
        ({"payload": ORDER, "attributes": {"vip": True}}, "attributes"),
        ({"payload": ORDER, "attributes": {"region": None}}, "attributes"),
        ({"payload": ORDER, "attributes": {"nested": {"a": "b"}}}, "attributes"),
        ({"payload": ORDER, "key": 42}, "key"),
        ({"payload": ORDER, "key": ["k"]}, "key"),
        ({"payload": ORDER, "key": "k" * 201}, "key"),
        ({"payload": ORDER, "priority": "high"}, "priority"),
    ],
)
def test_wrong_fields_are_400_naming_the_field(
    authenticated_client: APIClient, orders_topic: Topic, request_body: dict[str, Any], field: str
) -> None:
    body = problem_of(post_json(authenticated_client, request_body), 400, "invalid")

    assert body["title"] == "Invalid input"
    assert list(body["errors"]) == [field]
    assert body["detail"].startswith(f"{field}: ")
    assert_nothing_published()


def test_unknown_fields_are_each_named(authenticated_client: APIClient, orders_topic: Topic) -> None:
    body = problem_of(post_json(authenticated_client, {"payload": 1, "topic": "x", "delay": 5}), 400, "invalid")
    assert body["errors"] == {"delay": ["Unknown field."], "topic": ["Unknown field."]}


@pytest.mark.parametrize("request_body", [[{"payload": ORDER}], "payload", 7, None])
def test_body_that_is_not_an_object_is_400(
    authenticated_client: APIClient, orders_topic: Topic, request_body: Any
) -> None:
    body = problem_of(post_json(authenticated_client, request_body), 400, "invalid")
    assert list(body["errors"]) == ["non_field_errors"]
    assert_nothing_published()


def test_attribute_with_an_empty_name_is_400(authenticated_client: APIClient, orders_topic: Topic) -> None:
    body = problem_of(post_json(authenticated_client, {"payload": 1, "attributes": {"": "x"}}), 400, "invalid-message")
    assert body["title"] == "Invalid message"
    assert list(body["errors"]) == ["attributes"]
    assert_nothing_published()


def test_non_json_content_type_is_415(authenticated_client: APIClient, orders_topic: Topic) -> None:
    response = authenticated_client.post(PUBLISH_URL, data="payload=1", content_type="text/plain")

    body = problem_of(response, 415, "unsupported-media-type")
    assert body["detail"] == 'Unsupported media type "text/plain" in request.'
    assert_nothing_published()


def test_get_on_the_publish_endpoint_is_405(authenticated_client: APIClient, orders_topic: Topic) -> None:
    body = problem_of(authenticated_client.get(PUBLISH_URL), 405, "method-not-allowed")
    assert body["detail"] == 'Method "GET" not allowed.'


# Size limits.


def test_payload_over_the_limit_is_413(
    authenticated_client: APIClient, orders_topic: Topic, settings: Settings
) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 25
    payload = {"order_id": "o-123456789"}  # 26 bytes of compact JSON

    body = problem_of(post_json(authenticated_client, {"payload": payload}), 413, "payload-too-large")

    assert body["title"] == "Payload too large"
    assert body["detail"] == "The payload is 26 bytes of JSON; at most 25 are accepted."
    assert_nothing_published()


def test_payload_of_exactly_the_limit_is_accepted(
    authenticated_client: APIClient, orders_topic: Topic, settings: Settings
) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 26
    response = post_json(authenticated_client, {"payload": {"order_id": "o-123456789"}})
    assert response.status_code == 202
    assert Message.objects.count() == 1


def test_request_body_over_the_limit_is_413_before_parsing(
    authenticated_client: APIClient, orders_topic: Topic, settings: Settings
) -> None:
    settings.SWITCHBOARD_MAX_REQUEST_BYTES = 100
    raw = orjson.dumps({"payload": "x" * 200})

    response = authenticated_client.post(PUBLISH_URL, data=raw, content_type="application/json")

    body = problem_of(response, 413, "request-too-large")
    assert body["detail"] == f"The request body has {len(raw)} bytes; at most 100 are accepted."
    assert_nothing_published()


def test_request_too_large_is_refused_even_when_the_json_is_malformed(
    authenticated_client: APIClient, orders_topic: Topic, settings: Settings
) -> None:
    settings.SWITCHBOARD_MAX_REQUEST_BYTES = 10
    response = authenticated_client.post(PUBLISH_URL, data=b"{" * 50, content_type="application/json")
    problem_of(response, 413, "request-too-large")


# Reading a message.


def test_message_detail_shows_the_message_and_each_delivery(authenticated_client: APIClient) -> None:
    message = MessageFactory.create(
        topic=TopicFactory.create(name="orders.created"), payload=ORDER, attributes={"region": "eu"}, key="customer-42"
    )
    DeliveryFactory.create(
        message=message, subscription__name="inventory-reserve", state=DeliveryState.DELIVERED, attempts=1
    )
    DeliveryFactory.create(
        message=message,
        subscription__name="billing-charge",
        state=DeliveryState.RETRYING,
        attempts=2,
        last_error='Traceback (most recent call last):\n  File "x.py", line 1\nRetryableError: card declined\n',
    )

    response = authenticated_client.get(f"/api/v1/messages/{message.id}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = orjson.loads(response.content)
    deliveries = sorted(body.pop("deliveries"), key=lambda d: d["subscription"])
    assert body == {
        "id": str(message.id),
        "topic": "orders.created",
        "payload": ORDER,
        "attributes": {"region": "eu"},
        "key": "customer-42",
        "published_at": body["published_at"],
        "deliver_at": None,
        "expires_at": None,
    }
    assert parse_datetime(body["published_at"]) == message.published_at
    times: dict[str, object] = {"sent_at": None, "due_at": None, "finished_at": None, "attempt_log": []}
    assert [{k: v for k, v in d.items() if k != "created_at"} for d in deliveries] == [
        {
            "subscription": "billing-charge",
            "state": "retrying",
            "attempts": 2,
            "last_error": "RetryableError: card declined",
            **times,
        },
        {"subscription": "inventory-reserve", "state": "delivered", "attempts": 1, "last_error": None, **times},
    ]


def test_message_published_through_the_api_reads_back_pending(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    published = orjson.loads(post_json(authenticated_client, {"payload": ORDER}).content)

    response = authenticated_client.get(f"/api/v1/messages/{published['id']}")

    assert response.status_code == 200
    body = orjson.loads(response.content)
    assert (body["id"], body["topic"], body["payload"], body["attributes"], body["key"]) == (
        published["id"],
        "orders.created",
        ORDER,
        {},
        "",
    )
    assert body["published_at"] == published["published_at"]
    assert [
        (d["subscription"], d["state"], d["attempts"], d["last_error"], d["finished_at"], d["attempt_log"])
        for d in sorted(body["deliveries"], key=lambda d: d["subscription"])
    ] == [
        ("billing-charge", "pending", 0, None, None, []),
        ("inventory-reserve", "pending", 0, None, None, []),
    ]
    published_at = parse_datetime(published["published_at"])
    assert published_at is not None
    assert all(parse_datetime(d["created_at"]) >= published_at for d in body["deliveries"])  # type: ignore[operator]


def test_unknown_message_is_404(authenticated_client: APIClient) -> None:
    message_id = uuid.uuid4()
    body = problem_of(authenticated_client.get(f"/api/v1/messages/{message_id}"), 404, "unknown-message")
    assert body["title"] == "Unknown message"
    assert body["detail"] == f"There is no message {message_id}."


def test_message_id_that_is_not_a_uuid_is_404(authenticated_client: APIClient) -> None:
    problem_of(authenticated_client.get("/api/v1/messages/42"), 404, "not-found")


def test_message_detail_without_authorization_is_401(api_client: APIClient) -> None:
    message = MessageFactory.create()
    body = problem_of(api_client.get(f"/api/v1/messages/{message.id}"), 401, "not-authenticated")
    assert "payload" not in body


# Batch publish: each failed item answers the problem details a single publish would.

BATCH_URL = PUBLISH_URL + "/batch"


def test_batch_items_that_fail_answer_problem_details_and_the_rest_are_published(
    authenticated_client: APIClient, orders_topic: Topic, settings: Settings
) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 25
    items = [
        {"payload": {"order_id": "B-1"}},
        {"payload": {"order_id": "B-2"}, "attributes": {"region": 3}},
        {"payload": {"order_id": "o-123456789"}},  # 26 bytes of compact JSON
        {"payload": {"order_id": "B-4"}, "ttl": 5},
    ]

    response = post_json(authenticated_client, {"messages": items}, url=BATCH_URL)

    assert response.status_code == 202
    body = orjson.loads(response.content)
    assert (body["accepted"], body["failed"]) == (1, 3)
    assert [result["error"] for result in body["results"][1:]] == [
        {
            "type": PROBLEM_TYPE + "invalid-message",
            "title": "Invalid message",
            "status": 400,
            "detail": "attributes: region: Must be a string, not int.",
            "errors": {"attributes": {"region": ["Must be a string, not int."]}},
        },
        {
            "type": PROBLEM_TYPE + "payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": "The payload is 26 bytes of JSON; at most 25 are accepted.",
        },
        {
            "type": PROBLEM_TYPE + "invalid-message",
            "title": "Invalid message",
            "status": 400,
            "detail": "ttl: Unknown field.",
            "errors": {"ttl": ["Unknown field."]},
        },
    ]
    assert Message.objects.get().payload == {"order_id": "B-1"}


def test_a_batch_item_answers_the_body_a_single_publish_answers(
    authenticated_client: APIClient, orders_topic: Topic, settings: Settings
) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 25
    item = {"payload": {"order_id": "o-123456789"}}

    single = post_json(authenticated_client, item)
    batch = post_json(authenticated_client, {"messages": [item]}, url=BATCH_URL)

    assert orjson.loads(batch.content)["results"] == [{"error": orjson.loads(single.content)}]
    assert_nothing_published()


def test_a_batch_to_an_unknown_topic_is_a_404_problem(authenticated_client: APIClient, orders_topic: Topic) -> None:
    response = post_json(
        authenticated_client, {"messages": [{"payload": {}}]}, url="/api/v1/topics/nope/messages/batch"
    )

    body = problem_of(response, 404, "unknown-topic")
    assert (body["title"], body["detail"]) == ("Unknown topic", "There is no topic named 'nope'.")
    assert_nothing_published()


# Idempotency keys.


def test_an_idempotency_key_reused_with_another_request_is_a_422_problem(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    first = post_json(authenticated_client, {"payload": ORDER}, HTTP_IDEMPOTENCY_KEY="order-1")
    changed = post_json(authenticated_client, {"payload": {"order_id": "o-2"}}, HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == 202
    body = problem_of(changed, 422, "idempotency-key-reused")
    assert (body["title"], body["detail"]) == (
        "Idempotency key reused",
        "The idempotency key 'order-1' was used with a different request.",
    )
    assert Message.objects.count() == 1


def test_an_idempotency_key_in_flight_is_a_409_problem_to_retry_in_a_second(
    authenticated_client: APIClient, orders_topic: Topic
) -> None:
    IdempotencyKey.objects.create(
        scope=idempotency.api_scope(ApiKey.objects.get().pk),
        key="order-1",
        request_hash=idempotency.request_hash({"topic": "orders.created", "payload": ORDER, "attributes": {}}),
        expires_at=timezone.now() + timedelta(hours=1),
    )

    response = post_json(authenticated_client, {"payload": ORDER}, HTTP_IDEMPOTENCY_KEY="order-1")

    body = problem_of(response, 409, "idempotency-key-in-flight")
    assert (body["title"], body["detail"]) == (
        "Idempotency key in flight",
        "A request with the idempotency key 'order-1' is still being processed.",
    )
    assert response["Retry-After"] == "1"
    assert_nothing_published()
