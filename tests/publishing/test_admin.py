"""Tests for the admin of messages: the test-message form, search and filters, deliveries and
attempts inline, the delivery-attempts page, and a subscription's links."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from apps.delivery.models import DeliveryAttempt, DeliveryState
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic
from tests.factories import DeliveryFactory, MessageFactory

pytestmark = pytest.mark.django_db

SEND = "/admin/publishing/message/send-test-message/"


def test_the_send_test_message_form_publishes_through_publish(admin_client: Client, orders_topic: Topic) -> None:
    form = admin_client.get(SEND, {"topic": "orders.created"})
    assert form.status_code == 200
    assert form.context["form"].initial["topic"] == "orders.created"

    response = admin_client.post(
        SEND,
        {"topic": "orders.created", "payload": '{"order_id": "admin-1"}', "attributes": '{"region": "eu"}', "key": "k"},
    )

    message = Message.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/publishing/message/{message.pk}/change/"
    assert (message.payload, message.attributes, message.key) == ({"order_id": "admin-1"}, {"region": "eu"}, "k")
    assert sorted(message.deliveries.values_list("subscription__name", flat=True)) == [
        "billing-charge",
        "inventory-reserve",
    ]


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"payload": "{not json"}, "payload", "Not JSON: "),
        ({"attributes": '{"n": 5}'}, "attributes", "Give a JSON object whose values are strings."),
        ({"topic": "orders.nope"}, "topic", "Select a valid choice."),
    ],
)
def test_the_form_refuses_bad_input_and_publishes_nothing(
    admin_client: Client, orders_topic: Topic, fields: dict[str, str], field: str, error: str
) -> None:
    data = {"topic": "orders.created", "payload": "{}", "attributes": "{}", "key": "", **fields}

    response = admin_client.post(SEND, data)

    assert response.status_code == 200
    assert str(response.context["form"].errors[field][0]).startswith(error)
    assert Message.objects.count() == 0


def test_a_payload_publish_refuses_is_shown_on_the_form(
    admin_client: Client, orders_topic: Topic, settings: object
) -> None:
    settings.SWITCHBOARD_MAX_PAYLOAD_BYTES = 10  # type: ignore[attr-defined]
    response = admin_client.post(SEND, {"topic": "orders.created", "payload": '{"a": "0123456789"}', "attributes": ""})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["The payload is 18 bytes of JSON; at most 10 are accepted."]
    assert Message.objects.count() == 0


def test_messages_are_searchable_and_filtered_by_subscription(admin_client: Client, orders_topic: Topic) -> None:
    billing = Subscription.objects.get(name="billing-charge")
    wanted = MessageFactory.create(topic=orders_topic, key="customer-77")
    DeliveryFactory.create(message=wanted, subscription=billing, state=DeliveryState.DEAD)
    MessageFactory.create(topic=orders_topic, key="customer-78")

    by_key = admin_client.get("/admin/publishing/message/", {"q": "customer-77"})
    by_id = admin_client.get("/admin/publishing/message/", {"q": str(wanted.pk)})
    by_subscription = admin_client.get(
        "/admin/publishing/message/",
        {"deliveries__subscription__id__exact": str(billing.pk), "deliveries__state": "dead"},
    )

    for response in (by_key, by_id, by_subscription):
        assert response.status_code == 200
        assert [m.pk for m in response.context["cl"].result_list] == [wanted.pk]


def test_a_message_shows_its_deliveries_with_their_times_and_attempts(
    admin_client: Client, orders_topic: Topic
) -> None:
    message = MessageFactory.create(topic=orders_topic)
    delivery = DeliveryFactory.create(message=message, subscription=Subscription.objects.get(name="billing-charge"))
    DeliveryAttempt.objects.create(
        delivery=delivery,
        attempt=1,
        started_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        duration_ms=42,
        outcome="retryable",
        error="Traceback...\nTimeoutError: slow",
    )

    response = admin_client.get(f"/admin/publishing/message/{message.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "#1 2026-12-01T09:30:00.000+00:00 42 ms retryable TimeoutError: slow" in html
    assert f'href="/admin/delivery/delivery/{delivery.pk}/change/"' in html


def test_the_delivery_attempts_page_lists_and_filters_attempts(admin_client: Client, orders_topic: Topic) -> None:
    delivery = DeliveryFactory.create(
        message=MessageFactory.create(topic=orders_topic), subscription=Subscription.objects.get(name="billing-charge")
    )
    started = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    failed, succeeded = (
        DeliveryAttempt.objects.create(delivery=delivery, attempt=n, started_at=started, duration_ms=5, outcome=outcome)
        for n, outcome in ((1, "retryable"), (2, "success"))
    )

    everything = admin_client.get("/admin/delivery/deliveryattempt/")
    retries = admin_client.get("/admin/delivery/deliveryattempt/", {"outcome": "retryable"})

    assert everything.status_code == retries.status_code == 200
    assert {a.pk for a in everything.context["cl"].result_list} == {failed.pk, succeeded.pk}
    assert [a.pk for a in retries.context["cl"].result_list] == [failed.pk]


def test_a_subscription_links_to_its_messages_dead_letters_and_dashboard(
    admin_client: Client, orders_topic: Topic
) -> None:
    billing = Subscription.objects.get(name="billing-charge")

    html = admin_client.get("/admin/topology/subscription/").content.decode()
    topics = admin_client.get("/admin/topology/topic/").content.decode()

    assert f'href="/admin/publishing/message/?deliveries__subscription__id__exact={billing.pk}"' in html
    assert f'href="/admin/deadletters/deadletter/?subscription__id__exact={billing.pk}"' in html
    assert 'href="/dashboard/subscriptions/billing-charge/"' in html
    assert f'href="{SEND}?topic=orders.created"' in topics
    assert admin_client.get(f"/admin/topology/subscription/{billing.pk}/change/").status_code == 200
    assert admin_client.get("/admin/topology/subscription/add/").status_code == 200


def test_staff_without_the_add_message_permission_cannot_send(client: Client, orders_topic: Topic) -> None:
    staff = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(staff)

    response = client.post(SEND, {"topic": "orders.created", "payload": "{}", "attributes": "{}"})

    assert response.status_code == 403
    assert Message.objects.count() == 0
