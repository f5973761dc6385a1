"""A subscription's configuration never fails a publish or lies about a death, through real
processes: gunicorn, the relay and a celery worker on a private Redis.

A subscription can only get a missing handler or an invalid filter policy behind the
validator's back (a handler removed in a deploy, a shell): the tests write them so.
"""

import httpx
import pytest
from django.utils import timezone

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery.models import Delivery, DeliveryState
from apps.topology.models import Subscription
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import order, publish
from tests.system.oracle import nothing_open

pytestmark = pytest.mark.sqlite_too


def test_a_missing_handler_is_a_no_handler_dead_letter_at_once(stack: Stack, client: httpx.Client) -> None:
    Subscription.objects.filter(name="billing-charge").update(handler="billing-charge-removed", max_attempts=3)
    stack.start_worker(concurrency=1)
    stack.start_relay()

    message_id = publish(client, order(1))
    wait_until(nothing_open, timeout=60, what="every delivery to be delivered or dead")

    billing = Delivery.objects.get(message_id=message_id, subscription__name="billing-charge")
    assert (billing.state, billing.attempts) == (DeliveryState.DEAD, 0)
    [dead] = DeadLetter.objects.filter(message_id=message_id)
    assert (dead.subscription_id, dead.reason, dead.attempts) == (
        billing.subscription_id,
        DeadLetterReason.NO_HANDLER,
        0,
    )
    assert dead.last_error.startswith("No consumer is registered as 'billing-charge-removed' in this worker")
    inventory = Delivery.objects.get(message_id=message_id, subscription__name="inventory-reserve")
    assert inventory.state == DeliveryState.DELIVERED


def test_an_invalid_filter_policy_in_the_database_never_fails_a_publish(stack: Stack, client: httpx.Client) -> None:
    Subscription.objects.filter(name="billing-charge").update(
        filter_policy={"region": [{"prefix": 5}]}, updated_at=timezone.now()
    )

    response = client.post("/api/v1/topics/orders.created/messages", json={"payload": order(2)})

    assert response.status_code == 202, response.text
    routed = Delivery.objects.filter(message_id=response.json()["id"]).values_list("subscription__name", flat=True)
    assert sorted(routed) == ["inventory-reserve"]
