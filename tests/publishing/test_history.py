"""Tests for the message history: GET /api/v1/messages, its filters, its cursor and its cost."""

from collections import Counter
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create
from apps.delivery.models import DeliveryAttempt, DeliveryState
from apps.publishing import history
from apps.publishing.models import IdempotencyKey, IdempotencyState, Message
from tests.factories import DeliveryFactory, MessageFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0) - timedelta(hours=1)


def body(response: Any) -> Any:
    assert response.status_code == 200, response.content
    return orjson.loads(response.content)


@pytest.fixture
def messages() -> list[Message]:
    """Ten messages a minute apart: even ones to orders.created (region eu), odd ones to orders.shipped."""
    orders, shipped = TopicFactory.create(name="orders.created"), TopicFactory.create(name="orders.shipped")
    billing = SubscriptionFactory.create(name="billing-charge", topic=orders)
    made = []
    for n in range(10):
        message = MessageFactory.create(
            topic=orders if n % 2 == 0 else shipped,
            key=f"customer-{n % 3}",
            attributes={"region": "eu" if n % 2 == 0 else "us", "n": str(n)},
            published_at=START + timedelta(minutes=n),
        )
        if n % 2 == 0:
            DeliveryFactory.create(
                message=message, subscription=billing, state=DeliveryState.DEAD if n == 4 else DeliveryState.DELIVERED
            )
        made.append(message)
    return made


def ids(response: Any) -> list[str]:
    return [m["id"] for m in body(response)["results"]]


def newest_first(messages: list[Message], *numbers: int) -> list[str]:
    return [str(messages[n].id) for n in sorted(numbers, reverse=True)]


@pytest.mark.parametrize(
    ("params", "numbers"),
    [
        ({}, range(10)),
        ({"topic": "orders.shipped"}, (1, 3, 5, 7, 9)),
        ({"subscription": "billing-charge"}, (0, 2, 4, 6, 8)),
        ({"state": "dead"}, (4,)),
        ({"subscription": "billing-charge", "state": "delivered"}, (0, 2, 6, 8)),
        ({"key": "customer-1"}, (1, 4, 7)),
        ({"published_since": (START + timedelta(minutes=7)).isoformat()}, (7, 8, 9)),
        ({"published_until": (START + timedelta(minutes=2)).isoformat()}, (0, 1)),
        ({"attribute": "region=us"}, (1, 3, 5, 7, 9)),
        ({"attribute": ["region=eu", "n=6"]}, (6,)),
        ({"attribute": "region__contains=e"}, ()),  # a name is a name, never a lookup
    ],
)
def test_each_filter_selects_its_messages_newest_first(
    authenticated_client: APIClient, messages: list[Message], params: dict[str, Any], numbers: tuple[int, ...]
) -> None:
    assert ids(authenticated_client.get("/api/v1/messages", params)) == newest_first(messages, *numbers)


def test_an_idempotency_key_finds_the_message_it_published(
    authenticated_client: APIClient, messages: list[Message]
) -> None:
    IdempotencyKey.objects.create(
        scope="api:1",
        key="order-3-once",
        request_hash="x",
        state=IdempotencyState.COMPLETED,
        response_status=202,
        response_body={"id": str(messages[3].id)},
        expires_at=timezone.now() + timedelta(days=1),
    )
    response = authenticated_client.get("/api/v1/messages", {"idempotency_key": "order-3-once"})
    assert ids(response) == [str(messages[3].id)]
    assert ids(authenticated_client.get("/api/v1/messages", {"idempotency_key": "never-used"})) == []


def test_the_cursor_walks_every_page_once_even_as_new_messages_arrive(
    authenticated_client: APIClient, messages: list[Message]
) -> None:
    first = body(authenticated_client.get("/api/v1/messages", {"limit": "4", "topic": "orders.created"}))
    MessageFactory.create(topic=messages[0].topic, published_at=timezone.now())  # newer: not in the next pages
    second = body(
        authenticated_client.get(
            "/api/v1/messages", {"limit": "4", "cursor": first["next_cursor"], "topic": "orders.created"}
        )
    )

    assert [m["id"] for m in first["results"]] == newest_first(messages, 8, 6, 4, 2)
    assert [m["id"] for m in second["results"]] == newest_first(messages, 0)
    assert first["next"].startswith("http://testserver/api/v1/messages?")
    assert "topic=orders.created" in first["next"]
    assert second["next_cursor"] is None and second["next"] is None


def test_messages_published_in_the_same_instant_are_paged_by_id(authenticated_client: APIClient) -> None:
    topic = TopicFactory.create(name="orders.created")
    same = [MessageFactory.create(topic=topic, published_at=START) for _ in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = body(authenticated_client.get("/api/v1/messages", params))
        seen += [m["id"] for m in page["results"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted((str(m.id) for m in same), reverse=True)


def test_a_list_item_shows_the_messages_times_and_deliveries(
    authenticated_client: APIClient, messages: list[Message]
) -> None:
    [item] = body(authenticated_client.get("/api/v1/messages", {"state": "dead"}))["results"]
    assert item == {
        "id": str(messages[4].id),
        "topic": "orders.created",
        "attributes": {"region": "eu", "n": "4"},
        "key": "customer-1",
        "published_at": item["published_at"],
        "deliver_at": None,
        "expires_at": None,
        "deliveries": [{"subscription": "billing-charge", "state": "dead", "attempts": 0}],
    }


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"colour": "red"}, {"colour": ["Unknown filter; the filters are " + ", ".join(history.FILTER_NAMES) + "."]}),
        ({"topic": "nope"}, {"topic": ["There is no topic named nope."]}),
        ({"state": "lost"}, {"state": ["Select a valid choice. lost is not one of the available choices."]}),
        ({"published_since": "yesterday"}, {"published_since": ["Enter a valid date/time."]}),
        ({"attribute": "region"}, {"attribute": ["Give name=value, not 'region'."]}),
        ({"cursor": "bm90IGEgY3Vyc29y"}, {"cursor": ["Not a cursor this API gave out."]}),
        (
            {"published_since": "0001-01-01T00:00:00+01:00"},
            {"published_since": ["Enter a date/time between the years 1 and 9999 in UTC."]},
        ),
        (
            # 0001-01-01T00:00:00+01:00|<an id>: a time before the year 1 in UTC
            {"cursor": "MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHwwMWEyMjQ5ZC1iYjBmLTdlMzItYjVlYS1mMTViM2I2OTY5MTI"},
            {"cursor": ["Not a cursor this API gave out."]},
        ),
        ({"limit": "0"}, {"limit": ["Must be a whole number from 1 to 500."]}),
        ({"limit": "ten"}, {"limit": ["Must be a whole number."]}),
        ({"key": ["a", "b"]}, {"key": ["Give this filter once."]}),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    authenticated_client: APIClient, messages: list[Message], params: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    response = authenticated_client.get("/api/v1/messages", params)
    assert response.status_code == 400
    assert orjson.loads(response.content)["errors"] == errors


def statements_on(captured: CaptureQueriesContext) -> Counter[str]:
    """Count the statements by the table they read first."""
    return Counter(
        query["sql"].split(" FROM ", 1)[1].split()[0].strip('"')
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT") and " FROM " in query["sql"]
    )


def test_a_page_costs_the_same_statements_however_many_messages_and_deliveries(
    authenticated_client: APIClient, messages: list[Message]
) -> None:
    with CaptureQueriesContext(connection) as few:
        assert (
            len(ids(authenticated_client.get("/api/v1/messages", {"limit": "3", "subscription": "billing-charge"})))
            == 3
        )
    for message in Message.objects.all():
        for n in range(3):
            DeliveryFactory.create(
                message=message, subscription__name=f"extra-{message.pk}-{n}", subscription__topic=message.topic
            )
    with CaptureQueriesContext(connection) as many:
        page = authenticated_client.get("/api/v1/messages", {"limit": "10", "subscription": "billing-charge"})
        assert len(ids(page)) == 5
    assert statements_on(few) == statements_on(many)
    assert (statements_on(many)["publishing_message"], statements_on(many)["delivery_delivery"]) == (1, 1)
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the query plan is PostgreSQL's")
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "message_history"),
        ({"topic": "orders.created"}, "message_topic_history"),
        ({"key": "customer-1"}, "message_key"),
    ],
)
def test_a_deep_page_seeks_in_an_index_without_sorting(
    messages: list[Message], filters: dict[str, str], index: str
) -> None:
    queryset = history.messages_filter(filters=filters)
    cursor = history.cursor_encode(messages[5])
    published_at, message_id = history._cursor_decode(cursor)
    queryset = queryset.filter(published_at__lte=published_at).filter(
        history.Q(published_at__lt=published_at) | history.Q(id__lt=message_id)
    )[:50]
    with connection.cursor() as cur:
        # As on a table of millions: no scan of the whole table, no sort, no bitmap.
        for method in ("seqscan", "bitmapscan", "sort"):
            cur.execute(f"SET LOCAL enable_{method} = off")
        sql, params = queryset.query.sql_with_params()
        cur.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert index in plan, plan
    assert "Sort" not in plan, plan
    assert "Index Cond" in plan and "published_at <=" in plan, plan


def test_a_messages_status_shows_each_deliverys_times_and_every_attempt(
    authenticated_client: APIClient, messages: list[Message]
) -> None:
    message = messages[4]
    delivery = message.deliveries.get()
    sent, finished = START + timedelta(minutes=4, seconds=1), START + timedelta(minutes=4, seconds=9)
    type(delivery).objects.filter(pk=delivery.pk).update(sent_at=sent, finished_at=finished, attempts=2)
    for attempt, outcome, error in ((1, "retryable", "Traceback...\nTimeoutError: slow"), (2, "permanent", "")):
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempt=attempt,
            started_at=START + timedelta(minutes=4, seconds=attempt * 3),
            duration_ms=1500,
            outcome=outcome,
            error=error,
        )

    status = body(authenticated_client.get(f"/api/v1/messages/{message.id}"))

    [shown] = status["deliveries"]
    assert (shown["sent_at"], shown["finished_at"], shown["due_at"]) == (
        sent.isoformat().replace("+00:00", "Z"),
        finished.isoformat().replace("+00:00", "Z"),
        None,
    )
    assert shown["attempt_log"] == [
        {
            "attempt": 1,
            "started_at": (START + timedelta(minutes=4, seconds=3)).isoformat().replace("+00:00", "Z"),
            "ended_at": (START + timedelta(minutes=4, seconds=4.5)).isoformat().replace("+00:00", "Z"),
            "duration_ms": 1500,
            "outcome": "retryable",
            "status_code": None,
            "error": "TimeoutError: slow",
        },
        {
            "attempt": 2,
            "started_at": (START + timedelta(minutes=4, seconds=6)).isoformat().replace("+00:00", "Z"),
            "ended_at": (START + timedelta(minutes=4, seconds=7.5)).isoformat().replace("+00:00", "Z"),
            "duration_ms": 1500,
            "outcome": "permanent",
            "status_code": None,
            "error": None,
        },
    ]


def test_a_key_limited_to_some_topics_sees_only_their_messages(api_client: APIClient, messages: list[Message]) -> None:
    _, raw = api_key_create(name="shipping", scopes=["read"], topic_patterns=["orders.shipped"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert ids(api_client.get("/api/v1/messages")) == newest_first(messages, 1, 3, 5, 7, 9)
    hidden = api_client.get("/api/v1/messages", {"topic": "orders.created"})
    assert (hidden.status_code, orjson.loads(hidden.content)["errors"]) == (
        400,
        {"topic": ["There is no topic named orders.created."]},
    )
    hidden = api_client.get("/api/v1/messages", {"subscription": "billing-charge"})
    assert orjson.loads(hidden.content)["errors"] == {
        "subscription": ["There is no subscription named billing-charge."]
    }
