"""Per-topic access: glob patterns, their database filter (SQLite and PostgreSQL alike), and the API's 404s."""

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create
from apps.accounts.topics import InvalidTopicPatternError, TopicAccess, topic_patterns_parse
from apps.topology.models import Topic
from tests.deadletters.builders import dead_letter
from tests.factories import MessageFactory, SubscriptionFactory, TopicFactory


def test_patterns_are_globs_over_topic_names() -> None:
    access = TopicAccess(("orders.*", "billing.?"))
    assert [access.allows(t) for t in ["orders.created", "orders", "billing.x", "billing.xy", "ordersXcreated"]] == [
        True,
        False,
        True,
        False,
        False,
    ]
    assert TopicAccess().allows("anything")


def test_malformed_patterns_are_refused() -> None:
    assert topic_patterns_parse([" orders.* ", "", "orders.*", "a-b_c?"]) == ["orders.*", "a-b_c?"]
    with pytest.raises(InvalidTopicPatternError):
        topic_patterns_parse(["Orders/*"])


@pytest.mark.django_db
def test_the_database_filter_matches_the_globs() -> None:
    for name in ["orders.created", "orders.paid", "ordersxcreated", "billing.a", "billing.ab", "x.orders.created"]:
        TopicFactory.create(name=name)
    access = TopicAccess(("orders.*", "billing.?"))

    names = sorted(access.filter(Topic.objects.all(), "name").values_list("name", flat=True))

    assert names == sorted(name for name in Topic.objects.values_list("name", flat=True) if access.allows(name))
    assert names == ["billing.a", "orders.created", "orders.paid"]


@pytest.fixture
def two_teams(db: None) -> dict[str, object]:
    orders, payments = TopicFactory.create(name="orders.created"), TopicFactory.create(name="payments.made")
    billing = SubscriptionFactory.create(name="billing-charge", topic=orders, handler="billing-charge")
    ledger = SubscriptionFactory.create(name="payments-ledger", topic=payments, handler="billing-charge")
    return {
        "message": MessageFactory.create(topic=orders),
        "dead_letter": dead_letter(billing),
        "own_dead_letter": dead_letter(ledger),
    }


def _client(patterns: list[str]) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='payments', scopes=['admin'], topic_patterns=patterns)[1]}"
    )
    return client


def test_a_key_limited_to_other_topics_sees_nothing_of_orders(two_teams: dict[str, object]) -> None:
    client = _client(["payments.*"])
    message, dead = two_teams["message"], two_teams["dead_letter"]

    statuses = {
        "publish": client.post("/api/v1/topics/orders.created/messages", {"payload": {}}, format="json").status_code,
        "message": client.get(f"/api/v1/messages/{message.pk}").status_code,  # type: ignore[attr-defined]
        "cancel": client.post(f"/api/v1/messages/{message.pk}/cancel").status_code,  # type: ignore[attr-defined]
        "subscription": client.get("/api/v1/subscriptions/billing-charge").status_code,
        "pause": client.post("/api/v1/subscriptions/billing-charge/pause").status_code,
        "dead letter": client.get(f"/api/v1/dead-letters/{dead.pk}").status_code,  # type: ignore[attr-defined]
        "replay": client.post("/api/v1/dead-letters/replay", {"ids": [dead.pk]}, format="json").status_code,  # type: ignore[attr-defined]
        "filter": client.get("/api/v1/dead-letters?subscription=billing-charge").status_code,
    }

    assert statuses == {
        "publish": 404,
        "message": 404,
        "cancel": 404,
        "subscription": 404,
        "pause": 404,
        "dead letter": 404,
        "replay": 404,
        "filter": 400,  # "There is no subscription named billing-charge", as for an unknown one
    }
    assert [s["name"] for s in client.get("/api/v1/subscriptions").json()] == ["payments-ledger"]
    page = client.get("/api/v1/dead-letters").json()
    assert (page["count"], [d["id"] for d in page["results"]]) == (1, [two_teams["own_dead_letter"].pk])  # type: ignore[attr-defined]


def test_the_unknown_topic_answer_is_the_same_for_hidden_and_missing_topics(two_teams: dict[str, object]) -> None:
    client = _client(["payments.*"])

    hidden = client.post("/api/v1/topics/orders.created/messages", {"payload": {}}, format="json").json()
    missing = client.post("/api/v1/topics/payments.nothing/messages", {"payload": {}}, format="json").json()

    assert (hidden["type"], hidden["title"]) == (missing["type"], missing["title"])
    assert hidden["detail"] == "There is no topic named 'orders.created'."
