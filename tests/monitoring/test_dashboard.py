"""The dashboard: staff only, charts' series from the samples, a live table that stays cheap at 200 subscriptions."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.monitoring import snapshots
from apps.monitoring.readings import SubscriptionReading
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_user("ops", password="pw", is_staff=True))
    return client


# A minute ago, inside the charts' window; samples are taken seconds after it.
BASE = timezone.now() - timedelta(minutes=1)


def store(second: float, readings: list[SubscriptionReading]) -> None:
    snapshots.samples_store(readings=readings, now=BASE + timedelta(seconds=second))


def reading(name: str, **fields: Any) -> SubscriptionReading:
    return SubscriptionReading(name=name, topic="orders.created", **fields)


def test_the_dashboard_is_for_staff_only(client: Client) -> None:
    assert client.get("/dashboard/")["Location"] == "/admin/login/?next=/dashboard/"
    client.force_login(User.objects.create_user("someone", password="pw"))
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/series").status_code == 302
    assert client.get("/dashboard/table").status_code == 302


def test_the_page_loads_its_chart_library_from_static_files_not_a_cdn(staff: Client) -> None:
    html = staff.get("/dashboard/").content.decode()
    assert "/static/monitoring/vendor/uplot-1.6.32/uPlot.iife.min.js" in html
    assert re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html) == []
    assert html.count("data-chart=") == 6


def test_series_turn_totals_into_rates_and_answer_only_what_is_newer(staff: Client) -> None:
    store(0, [reading("a", delivered=0, published=0, depth={"ready": 1})])
    store(5, [reading("a", delivered=50, retried=10, dead=0, published=60, depth={"ready": 7}, oldest_age=2.5)])
    store(10, [reading("a", delivered=100, retried=10, dead=10, published=120, depth={"ready": 3})])

    columns = staff.get("/dashboard/series", {"subscription": "a"}).json()["columns"]

    assert columns["ready"] == [1, 7, 3]
    assert columns["oldest_age"] == [0, 2.5, 0]
    assert columns["published_rate"] == [None, 12.0, 12.0]
    assert columns["delivered_rate"] == [None, 10.0, 10.0]
    assert columns["error_rate"] == [None, 0.1667, 0.1667]  # 10 retried of 60 outcomes, then 10 dead of 60
    newer = staff.get("/dashboard/series", {"subscription": "a", "since": columns["t"][1]}).json()["columns"]
    assert newer["t"] == columns["t"][2:] and newer["delivered_rate"] == [10.0]
    assert staff.get("/dashboard/series", {"since": "soon"}).status_code == 400


def test_the_table_of_200_subscriptions_costs_a_few_queries(staff: Client, django_assert_max_num_queries: Any) -> None:
    topic = TopicFactory(name="orders.created")
    names = [f"sub-{n:03}" for n in range(200)]
    for name in names:
        SubscriptionFactory(name=name, topic=topic)
    for second in range(0, 35, 5):
        store(
            second,
            [reading(n, delivered=second * 2, published=second * 3, dead_letters=i % 3) for i, n in enumerate(names)],
        )

    with django_assert_max_num_queries(8):
        table = staff.get("/dashboard/table").json()

    assert len(table["subscriptions"]) == 200
    first = table["subscriptions"][1]
    assert (first["subscription"], first["delivered"], first["dead_letters"], first["delivered_rate"]) == (
        "sub-001",
        60,
        1,
        2.0,
    )
    assert table["topics"] == [{"topic": "orders.created", "published_rate": 3.0, "published": 90}]
    with django_assert_max_num_queries(10):
        assert staff.get("/dashboard/").status_code == 200
    with django_assert_max_num_queries(6):
        assert len(staff.get("/dashboard/series").json()["columns"]["t"]) == 7


def test_a_subscription_has_its_own_page(staff: Client) -> None:
    SubscriptionFactory(name="billing-charge")
    page = staff.get("/dashboard/subscriptions/billing-charge/")
    assert page.status_code == 200
    assert '"subscription": "billing-charge"' in page.content.decode()
    assert staff.get("/dashboard/subscriptions/nope/").status_code == 404


def test_the_admin_links_to_the_dashboard(staff: Client) -> None:
    User.objects.filter(username="ops").update(is_superuser=True)
    assert 'href="/dashboard/"' in staff.get("/admin/").content.decode()


def test_the_tables_latency_covers_the_deliveries_of_its_rate_window(staff: Client) -> None:
    # LATENCY_BUCKETS: 0.005, 0.01, 0.025, 0.05, 0.1, ... ; 10 deliveries between 50 and 100 ms.
    before, after = [0] * 16, [0, 0, 0, 0] + [10] * 12
    store(0, [reading("a", latency_buckets=before)])
    store(5, [reading("a", latency_buckets=after)])
    store(10, [reading("a", latency_buckets=after)])  # nothing new in the last interval

    [row] = staff.get("/dashboard/table").json()["subscriptions"]

    assert (row["latency_p50_ms"], row["latency_p99_ms"]) == (75.0, 99.5)
