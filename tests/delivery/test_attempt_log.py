"""Tests for the attempt log of Python consumers (apps.delivery.attempt_log), on a private redis-server."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.consumers import ReceivedMessage, consumer, consumers_isolated
from apps.core.errors import RetryableError
from apps.delivery import attempts
from apps.delivery.models import Delivery, DeliveryAttempt, DeliveryState
from tests.factories import DeliveryFactory, SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_redis")]


@pytest.fixture(autouse=True)
def flaky_consumer() -> Iterator[None]:
    """`flaky` fails its first attempt (retryable), then succeeds; `broken` always fails for good."""
    with consumers_isolated():

        @consumer("flaky", retry_for=(RetryableError,))
        def flaky(message: ReceivedMessage) -> None:
            if message.attempt == 1:
                raise RetryableError("the card processor timed out")

        @consumer("broken")
        def broken(message: ReceivedMessage) -> None:
            raise ValueError("no order_id in the payload")

        yield


def deliveries(handler: str, count: int, **subscription: object) -> list[Delivery]:
    sub = SubscriptionFactory.create(handler=handler, retry_initial_delay=0, retry_jitter=0, **subscription)
    return [DeliveryFactory.create(subscription=sub, message__topic=sub.topic) for _ in range(count)]


def log_of(delivery: Delivery) -> list[tuple[int, str, str]]:
    return [(a.attempt, a.outcome, a.error) for a in DeliveryAttempt.objects.filter(delivery=delivery)]


def test_every_run_of_a_python_handler_is_logged_with_its_outcome() -> None:
    [delivery] = deliveries("flaky", 1)

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.RETRYING
    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DELIVERED

    assert log_of(delivery) == [
        (1, "retryable", "apps.core.errors.RetryableError: the card processor timed out"),
        (2, "success", ""),
    ]
    first, second = DeliveryAttempt.objects.filter(delivery=delivery)
    assert first.started_at <= second.started_at
    assert (first.status_code, first.duration_ms >= 0) == (None, True)


def test_a_permanent_failure_is_logged_before_the_dead_letter() -> None:
    [delivery] = deliveries("broken", 1)

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DEAD

    assert log_of(delivery) == [(1, "permanent", "ValueError: no order_id in the payload")]


def test_a_batch_writes_its_log_in_one_statement() -> None:
    batch = deliveries("flaky", 5, batch_size=5)
    Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(attempts=1)  # attempt 2 succeeds

    with CaptureQueriesContext(connection) as captured:
        outcomes = attempts.delivery_attempt_batch(delivery_ids=[d.pk for d in batch])

    assert outcomes == [DeliveryState.DELIVERED] * 5
    inserts = [
        q["sql"] for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "delivery_deliveryattempt"')
    ]
    assert len(inserts) == 1
    assert [log_of(d) for d in batch] == [[(2, "success", "")]] * 5


def test_the_log_is_off_with_its_setting(settings: Any) -> None:
    settings.SWITCHBOARD_ATTEMPT_LOG = False
    [delivery] = deliveries("flaky", 1)

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.RETRYING

    assert log_of(delivery) == []
