"""Tests for apps.delivery.selectors.deliveries_for_attempt: the ORM's result, in one query."""

from typing import Any

import pytest
from django.db.models import Model
from django.utils import timezone

from apps.delivery.models import Delivery
from apps.delivery.selectors import deliveries_for_attempt
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def fields(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_deliveries_load_as_the_orm_loads_them_with_message_topic_and_subscription(
    django_assert_num_queries: Any,
) -> None:
    plain = DeliveryFactory.create()
    rich = DeliveryFactory.create(
        message__payload={"order": {"id": "42", "items": [1, 2.5, None, True]}, "note": "é"},
        message__attributes={"region": "eu"},
        message__key="k-1",
        message__expires_at=timezone.now(),
        attempts=3,
        last_error="boom",
        sent_at=timezone.now(),
        subscription__filter_policy={"region": ["eu"]},
        subscription__webhook_secrets=["whsec_x"],
    )
    ids = [plain.pk, rich.pk, 10**9]  # the last one does not exist

    with django_assert_num_queries(1):
        loaded = deliveries_for_attempt(ids)
        related = [(d.message, d.message.topic, d.subscription) for d in loaded.values()]

    expected = Delivery.objects.select_related("message__topic", "subscription").in_bulk(ids)
    assert sorted(loaded) == sorted(expected) == [plain.pk, rich.pk]
    for pk, delivery in expected.items():
        got = loaded[pk]
        assert fields(got) == fields(delivery)
        assert fields(got.message) == fields(delivery.message)
        assert fields(got.message.topic) == fields(delivery.message.topic)
        assert fields(got.subscription) == fields(delivery.subscription)
        assert got._state.adding is False
    assert len(related) == 2


def test_no_ids_load_nothing(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert deliveries_for_attempt([]) == {}
