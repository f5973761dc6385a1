"""The per-process copy of the topology that publishing reads (apps.topology.selectors)."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.topology import selectors
from apps.topology.models import Subscription, Topic
from tests.factories import SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_copy() -> Iterator[None]:
    selectors.topology_cache_clear()
    yield
    selectors.topology_cache_clear()


def policies(topic_id: int) -> dict[str, object]:
    return {s.name: s.filter_policy for s in selectors.subscriptions_for_topic(topic_id=topic_id)}


def test_a_change_made_by_another_process_is_seen_after_the_next_check(monkeypatch: pytest.MonkeyPatch) -> None:
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing-charge", topic=topic)
    assert policies(topic.pk) == {"billing-charge": {}}

    # As another process would write it: no signal here; updated_at moves (sync, pause, admin).
    Subscription.objects.filter(name="billing-charge").update(
        filter_policy={"region": ["eu"]}, updated_at=timezone.now() + timedelta(seconds=1)
    )
    assert policies(topic.pk) == {"billing-charge": {}}  # within the second: the copy

    monkeypatch.setattr(selectors, "TOPOLOGY_CHECK_SECONDS", 0.0)
    assert policies(topic.pk) == {"billing-charge": {"region": ["eu"]}}


def test_a_change_that_leaves_updated_at_alone_is_seen_once_the_copy_is_too_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing-charge", topic=topic)
    assert policies(topic.pk) == {"billing-charge": {}}
    Subscription.objects.filter(name="billing-charge").update(filter_policy={"region": ["eu"]})

    monkeypatch.setattr(selectors, "TOPOLOGY_CHECK_SECONDS", 0.0)
    assert policies(topic.pk) == {"billing-charge": {}}  # the fingerprint did not change
    monkeypatch.setattr(selectors, "TOPOLOGY_MAX_AGE_SECONDS", 0.0)
    assert policies(topic.pk) == {"billing-charge": {"region": ["eu"]}}


def test_writes_in_this_process_drop_the_copy_at_once() -> None:
    topic = TopicFactory.create(name="orders.created")
    assert selectors.subscriptions_for_topic(topic_id=topic.pk) == []

    SubscriptionFactory.create(name="billing-charge", topic=topic)

    assert list(policies(topic.pk)) == ["billing-charge"]


def test_a_topic_created_a_moment_ago_elsewhere_is_found_and_an_unknown_one_is_none() -> None:
    assert selectors.topic_cached(name="orders.created") is None  # loads the copy
    Topic.objects.bulk_create([Topic(name="orders.created")])  # no signal, as if in another process

    found = selectors.topic_cached(name="orders.created")

    assert found is not None and found.name == "orders.created"
    assert selectors.topic_cached(name="nope") is None


def test_reading_from_the_copy_costs_no_query(django_assert_num_queries: object) -> None:
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing-charge", topic=topic)
    selectors.topic_cached(name="orders.created")

    with django_assert_num_queries(0):  # type: ignore[operator]
        assert selectors.topic_cached(name="orders.created") == topic
        assert [s.name for s in selectors.subscriptions_for_topic(topic_id=topic.pk)] == ["billing-charge"]
