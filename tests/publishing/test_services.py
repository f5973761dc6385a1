"""Tests for apps.publishing.services.publish: validation, and nothing written on error."""

import datetime
import uuid
from typing import Any

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings

from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.errors import InvalidMessageError, PayloadTooLargeError, PublishError, UnknownTopicError
from apps.publishing.models import Message
from apps.publishing.services import MAX_ATTRIBUTES, publish, publish_many
from apps.topology.models import Topic

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "o-1001", "total": "19.90"}


def assert_nothing_written() -> None:
    assert Message.objects.count() == 0
    assert Delivery.objects.count() == 0


def test_publish_stores_the_message_and_a_pending_delivery_per_subscription(orders_topic: Topic) -> None:
    message = publish(topic="orders.created", payload=ORDER, attributes={"region": "eu"}, key="customer-42")

    stored = Message.objects.get()
    assert stored.pk == message.pk
    assert message.id.version == 7
    assert (stored.topic, stored.payload, stored.attributes, stored.key) == (
        orders_topic,
        ORDER,
        {"region": "eu"},
        "customer-42",
    )
    assert stored.published_at == message.published_at
    assert sorted(Delivery.objects.filter(message=stored).values_list("subscription__name", "state", "attempts")) == [
        ("billing-charge", DeliveryState.PENDING, 0),
        ("inventory-reserve", DeliveryState.PENDING, 0),
    ]


def test_publish_without_attributes_or_key_stores_empty_ones(orders_topic: Topic) -> None:
    publish(topic="orders.created", payload=[])
    stored = Message.objects.get()
    assert (stored.payload, stored.attributes, stored.key) == ([], {}, "")


def test_null_payload_is_invalid_as_in_the_api(orders_topic: Topic) -> None:
    # The API refuses {"payload": null} with 400; the service must not fail with a database error.
    with pytest.raises(InvalidMessageError) as info:
        publish(topic="orders.created", payload=None)
    assert info.value.field == "payload"
    assert_nothing_written()


def test_publish_rolls_back_with_the_callers_transaction(orders_topic: Topic) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(topic="orders.created", payload=ORDER)
        raise RuntimeError("the caller's own write failed")
    assert_nothing_written()


def test_unknown_topic(orders_topic: Topic) -> None:
    with pytest.raises(UnknownTopicError, match=r"^There is no topic named 'orders\.shipped'\.$") as info:
        publish(topic="orders.shipped", payload=ORDER)
    assert info.value.topic == "orders.shipped"
    assert isinstance(info.value, PublishError)
    assert_nothing_written()


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("region=eu", "Attributes must be an object of string values."),
        (["region"], "Attributes must be an object of string values."),
        ({"retries": 3}, "Attribute 'retries' must be a non-empty name with a string value."),
        ({"vip": True}, "Attribute 'vip' must be a non-empty name with a string value."),
        ({"region": None}, "Attribute 'region' must be a non-empty name with a string value."),
        ({"": "x"}, "Attribute '' must be a non-empty name with a string value."),
        ({1: "x"}, "Attribute 1 must be a non-empty name with a string value."),
        ({f"a{n}": "x" for n in range(MAX_ATTRIBUTES + 1)}, "At most 50 attributes are accepted."),
    ],
)
def test_invalid_attributes(orders_topic: Topic, attributes: Any, message: str) -> None:
    with pytest.raises(InvalidMessageError) as info:
        publish(topic="orders.created", payload=ORDER, attributes=attributes)
    assert (info.value.field, str(info.value)) == ("attributes", message)
    assert_nothing_written()


def test_fifty_attributes_are_accepted(orders_topic: Topic) -> None:
    attributes = {f"a{n}": "x" for n in range(MAX_ATTRIBUTES)}
    publish(topic="orders.created", payload=ORDER, attributes=attributes)
    assert Message.objects.get().attributes == attributes


@pytest.mark.parametrize("key", [42, b"bytes", ["k"], "k" * 201])
def test_invalid_key(orders_topic: Topic, key: Any) -> None:
    with pytest.raises(InvalidMessageError) as info:
        publish(topic="orders.created", payload=ORDER, key=key)
    assert (info.value.field, str(info.value)) == ("key", "The key must be a string of at most 200 characters.")
    assert_nothing_written()


def test_key_of_200_characters_is_accepted(orders_topic: Topic) -> None:
    publish(topic="orders.created", payload=ORDER, key="k" * 200)
    assert Message.objects.get().key == "k" * 200


@pytest.mark.parametrize(
    "payload",
    [
        {1, 2},
        object(),
        {"amount": 1 + 2j},
        {1: "non-string key"},
        {"at": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)},
        {"id": uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")},
        {"ratio": float("nan")},
        {"ratio": float("inf")},
    ],
    ids=["set", "object", "complex", "int-key", "datetime", "uuid", "nan", "infinity"],
)
def test_payload_that_is_not_json_is_invalid(orders_topic: Topic, payload: Any) -> None:
    with pytest.raises(InvalidMessageError) as info:
        publish(topic="orders.created", payload=payload)
    assert info.value.field == "payload"
    assert str(info.value).startswith("The payload is not JSON: ")
    assert_nothing_written()


def test_payload_over_the_limit_is_too_large(orders_topic: Topic, settings: Settings) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 16
    payload = {"order_id": "o-10010"}  # 22 bytes of compact JSON

    with pytest.raises(
        PayloadTooLargeError, match=r"^The payload is 22 bytes of JSON; at most 16 are accepted\.$"
    ) as info:
        publish(topic="orders.created", payload=payload)

    assert (info.value.size, info.value.limit) == (22, 16)
    assert_nothing_written()


def test_payload_size_counts_utf8_bytes(orders_topic: Topic, settings: Settings) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 5
    with pytest.raises(PayloadTooLargeError) as info:
        publish(topic="orders.created", payload="żółw")  # 7 bytes in UTF-8, 9 with the quotes
    assert info.value.size == 9


def test_payload_of_exactly_the_limit_is_accepted(orders_topic: Topic, settings: Settings) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 22
    publish(topic="orders.created", payload={"order_id": "o-10010"})
    assert Message.objects.count() == 1


def test_topic_is_checked_before_the_message(orders_topic: Topic) -> None:
    bad_attributes: Any = "bad"
    bad_key: Any = 5
    with pytest.raises(UnknownTopicError):
        publish(topic="nope", payload={1, 2}, attributes=bad_attributes, key=bad_key)
    assert_nothing_written()


def test_publish_many_stores_every_field_of_every_message_across_inserts(orders_topic: Topic) -> None:
    """250 messages take several INSERTs on SQLite (999 parameters each); each reads back as built."""
    items = [
        {
            "payload": {"n": n, "text": "grüße", "nested": [1, {"x": None}]},
            "attributes": {"region": "eu"} if n % 2 else {},
            "key": f"k{n}" if n % 3 else "",
            "delay_seconds": 60 if n % 5 == 0 else None,
            "ttl_seconds": 3600 if n % 7 == 0 else None,
        }
        for n in range(250)
    ]

    results = publish_many(topic="orders.created", messages=items)

    stored = {m.pk: m for m in Message.objects.all()}
    assert len(stored) == 250
    for built in results:
        assert isinstance(built, Message) and not built._state.adding
        m = stored[built.pk]
        assert (m.topic_id, m.payload, m.attributes, m.key) == (
            built.topic_id,
            built.payload,
            built.attributes,
            built.key,
        )
        assert (m.published_at, m.deliver_at, m.expires_at) == (built.published_at, built.deliver_at, built.expires_at)
    assert sum(m.deliver_at is not None for m in stored.values()) == 50
    assert sum(m.expires_at is not None for m in stored.values()) == 36
