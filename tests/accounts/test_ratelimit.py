"""Rate limits against a private redis-server: per key for publish and other calls, per address for failed keys."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.ratelimit import Rate, take
from apps.accounts.services import api_key_create
from apps.topology.models import Topic
from tests.factories import TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(db: None) -> Topic:
    return TopicFactory.create(name="orders.created")


def test_rates_are_read_as_count_per_period() -> None:
    assert Rate.parse("1000/s") == Rate(burst=1000, per_second=1000.0)
    assert Rate.parse("60/m") == Rate(burst=60, per_second=1.0)
    assert Rate.parse("off") is None
    with pytest.raises(ValueError, match="is not a rate"):
        Rate.parse("fast")


def test_a_bucket_empties_then_says_how_long_to_wait(private_redis: str) -> None:
    rate = Rate(burst=3, per_second=0.5)

    waits = [take("api", "k1", rate) for _ in range(4)]

    assert waits == [0, 0, 0, 2]
    assert take("api", "k2", rate) == 0  # another key, another bucket


def test_unreachable_redis_lets_requests_through(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    from apps.core.redis import redis_client

    redis_client.cache_clear()
    assert take("api", "k", Rate(burst=1, per_second=1)) == 0
    redis_client.cache_clear()


def test_publish_beyond_the_key_limit_is_429_with_retry_after(private_redis: str, settings: Any, orders: Topic) -> None:
    settings.SWITCHBOARD_RATE_LIMIT_PUBLISH = "2/m"
    settings.SWITCHBOARD_RATE_LIMIT_API = "off"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='p', scopes=['admin'])[1]}")

    statuses = [client.post("/api/v1/topics/orders.created/messages", {"payload": {}}, format="json") for _ in range(3)]

    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert statuses[2]["Retry-After"] == "30"
    assert statuses[2].json()["type"] == "https://switchboard.dev/problems/rate-limited"
    assert client.get("/api/v1/subscriptions").status_code == 200  # other calls have their own bucket


def test_an_address_that_failed_too_often_is_refused_before_its_key_is_checked(
    private_redis: str, settings: Any, orders: Topic
) -> None:
    settings.SWITCHBOARD_RATE_LIMIT_AUTH_FAILURES = "3/h"
    good = api_key_create(name="good", scopes=["read"])[1]
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer sb_nope_" + "x" * 40)

    statuses = [wrong.get("/api/v1/subscriptions").status_code for _ in range(4)]
    right = APIClient()
    right.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")

    assert statuses == [401, 401, 401, 429]
    assert right.get("/api/v1/subscriptions").status_code == 429
