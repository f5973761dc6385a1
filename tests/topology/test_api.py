"""Tests for the subscriptions API's answers to an unknown subscription."""

import orjson
import pytest
from rest_framework.test import APIClient

from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/subscriptions/nope"),
        ("post", "/api/v1/subscriptions/nope/pause"),
        ("post", "/api/v1/subscriptions/nope/resume"),
    ],
)
def test_an_unknown_subscription_is_a_404_problem(authenticated_client: APIClient, method: str, url: str) -> None:
    SubscriptionFactory.create(name="billing")

    response = getattr(authenticated_client, method)(url)

    assert (response.status_code, response["Content-Type"]) == (404, "application/problem+json")
    assert orjson.loads(response.content) == {
        "type": "https://switchboard.dev/problems/unknown-subscription",
        "title": "Unknown subscription",
        "status": 404,
        "detail": "There is no subscription named 'nope'.",
    }
