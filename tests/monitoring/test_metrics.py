"""GET /metrics: off without a token, 401 without the right one, and the contract's names and labels."""

from typing import Any

import pytest
import redis
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.core import telemetry
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token"

# The contract: dashboards and alert rules depend on these names, types and labels.
CONTRACT = {
    "switchboard_messages_published": ("counter", {"topic"}),
    "switchboard_deliveries": ("counter", {"subscription", "outcome"}),
    "switchboard_unroutable": ("counter", {"topic"}),
    "switchboard_delivery_latency_seconds": ("histogram", {"subscription"}),
    "switchboard_handler_duration_seconds": ("histogram", {"subscription"}),
    "switchboard_queue_depth": ("gauge", {"subscription", "state"}),
    "switchboard_oldest_message_age_seconds": ("gauge", {"subscription"}),
    "switchboard_dead_letters": ("gauge", {"subscription", "reason"}),
    "switchboard_consumers": ("gauge", {"subscription"}),
    "switchboard_subscription_paused": ("gauge", {"subscription"}),
    "switchboard_alerts_firing": ("gauge", {"rule", "severity"}),
}


@pytest.fixture
def rds(celery_broker: str) -> redis.Redis:
    client = redis.Redis.from_url(celery_broker)
    telemetry.flush()
    client.flushdb()
    return client


def scrape(client: Client, **headers: str) -> Any:
    return client.get("/metrics", headers=headers)


def test_metrics_are_off_without_a_token(client: Client, settings: Any) -> None:
    settings.SWITCHBOARD_METRICS_TOKEN = ""
    settings.SWITCHBOARD_METRICS_PUBLIC = False
    assert scrape(client).status_code == 404
    assert scrape(client, Authorization="Bearer anything").status_code == 404


def test_metrics_need_the_token(client: Client, settings: Any, rds: redis.Redis) -> None:
    settings.SWITCHBOARD_METRICS_TOKEN = TOKEN
    settings.SWITCHBOARD_METRICS_PUBLIC = False
    assert scrape(client).status_code == 401
    assert scrape(client, Authorization="Bearer wrong").status_code == 401
    assert scrape(client, Authorization=f"Basic {TOKEN}").status_code == 401
    answer = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")


def test_public_metrics_need_no_token(client: Client, settings: Any, rds: redis.Redis) -> None:
    settings.SWITCHBOARD_METRICS_TOKEN = ""
    settings.SWITCHBOARD_METRICS_PUBLIC = True
    assert scrape(client).status_code == 200


def test_every_name_of_the_contract_with_its_type_and_labels(client: Client, settings: Any, rds: redis.Redis) -> None:
    settings.SWITCHBOARD_METRICS_PUBLIC = True
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing", topic=topic)
    telemetry.count(telemetry.published_field("orders.created"), 7)
    telemetry.count(telemetry.outcome_field("billing", telemetry.DELIVERED), 6)
    telemetry.observe(telemetry.LATENCY, "billing", 0.3)
    telemetry.flush()

    families = {f.name: f for f in text_string_to_metric_families(scrape(client).content.decode())}

    assert set(families) == set(CONTRACT)
    for name, (kind, labels) in CONTRACT.items():
        assert families[name].type == kind, name
        for sample in families[name].samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert values[("switchboard_messages_published_total", (("topic", "orders.created"),))] == 7
    assert values[("switchboard_deliveries_total", (("outcome", "delivered"), ("subscription", "billing")))] == 6
    assert values[("switchboard_delivery_latency_seconds_count", (("subscription", "billing"),))] == 1
    assert values[("switchboard_delivery_latency_seconds_bucket", (("le", "0.25"), ("subscription", "billing")))] == 0
    assert values[("switchboard_delivery_latency_seconds_bucket", (("le", "0.5"), ("subscription", "billing")))] == 1
    assert values[("switchboard_queue_depth", (("state", "outbox"), ("subscription", "billing")))] == 0
    assert values[("switchboard_subscription_paused", (("subscription", "billing"),))] == 0
