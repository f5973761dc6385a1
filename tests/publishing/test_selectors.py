"""Tests for apps.publishing.selectors.message_get."""

import uuid

import pytest
from pytest_django import DjangoAssertNumQueries

from apps.publishing.selectors import message_get
from tests.factories import DeliveryFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_message_get_loads_topic_deliveries_subscriptions_and_attempts_in_four_queries(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    message = MessageFactory.create()
    DeliveryFactory.create_batch(3, message=message)

    with django_assert_num_queries(4):
        found = message_get(message_id=message.id)
        assert found is not None
        described = (found.topic.name, sorted(d.subscription.name for d in found.deliveries.all()))
        assert [list(d.attempt_log.all()) for d in found.deliveries.all()] == [[], [], []]

    assert described == (message.topic.name, sorted(d.subscription.name for d in message.deliveries.all()))
    assert len(described[1]) == 3


def test_message_get_of_an_unknown_id_is_none() -> None:
    MessageFactory.create()
    assert message_get(message_id=uuid.uuid4()) is None
