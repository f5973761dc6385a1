"""Tests for apps.delivery.attempts and their leases, on a private redis-server.

Crashes with real worker processes are in tests/system; these check what each outcome
leaves behind in Redis: the lease in `sb:running`, the start counter, the duplicate count.
"""

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis

from apps.core import redis_keys
from apps.core.consumers import ReceivedMessage, consumer, consumers_isolated
from apps.core.errors import RetryableError
from apps.core.redis import redis_client
from apps.deadletters.models import DeadLetter
from apps.delivery import attempts, counters, leases, outcomes, tasks
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from tests.factories import DeliveryFactory, SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_redis")]


class Behaviour:
    """What the test consumer does next: succeed, raise, or run a callback first."""

    raises: BaseException | None = None
    during: object = None


@pytest.fixture(autouse=True)
def test_consumer() -> Iterator[type[Behaviour]]:
    Behaviour.raises, Behaviour.during = None, None
    with consumers_isolated():
        # Not transactional: a handler that raises would roll back what `during` wrote.
        @consumer("test-attempts", transactional=False, retry_for=(RetryableError,))
        def handle(message: ReceivedMessage) -> None:
            if callable(Behaviour.during):
                Behaviour.during()
            if Behaviour.raises is not None:
                raise Behaviour.raises

        yield Behaviour


def a_delivery(**subscription: object) -> Delivery:
    sub = SubscriptionFactory.create(handler="test-attempts", **subscription)
    return DeliveryFactory.create(subscription=sub, message__topic=sub.topic)


def lease_held(delivery: Delivery) -> bool:
    member = leases._member(delivery.subscription.queue, delivery.pk)
    return redis_client().zscore(redis_keys.RUNNING, member) is not None


def starts(delivery: Delivery) -> int | None:
    value = redis_client().get(redis_keys.starts(delivery.pk))
    return None if value is None else int(value)  # type: ignore[arg-type]


def duplicates(delivery: Delivery) -> int:
    return counters.counters_read().get(counters.duplicates(delivery.subscription.name), 0)


def test_a_delivered_attempt_releases_its_lease_and_forgets_its_starts() -> None:
    delivery = a_delivery()

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DELIVERED

    assert (lease_held(delivery), starts(delivery), duplicates(delivery)) == (False, None, 0)


def test_a_retrying_attempt_releases_its_lease_and_keeps_its_starts(test_consumer: type[Behaviour]) -> None:
    test_consumer.raises = RetryableError("try later")
    delivery = a_delivery(max_attempts=3)

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.RETRYING

    assert (lease_held(delivery), starts(delivery)) == (False, 1)


def test_an_interrupted_attempt_keeps_its_lease_for_the_relay_to_reclaim(test_consumer: type[Behaviour]) -> None:
    """A hard time limit or cold shutdown raises SystemExit in the handler: the delivery is
    neither finished nor free to run again before its lease runs out."""
    test_consumer.raises = SystemExit(1)
    delivery = a_delivery()

    with pytest.raises(SystemExit):
        attempts.delivery_attempt(delivery_id=delivery.pk)

    assert (lease_held(delivery), starts(delivery)) == (True, 1)
    assert leases.lease_keeper(redis_client())._members == set()  # no longer renewed
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)
    # Another copy meanwhile is skipped as a duplicate...
    test_consumer.raises = None
    assert attempts.delivery_attempt(delivery_id=delivery.pk) == outcomes.DUPLICATE
    assert duplicates(delivery) == 1
    # ...and once the lease has run out the relay brings it back: the start still counts.
    assert leases.leases_reclaim(redis_client()) == 0
    redis_client().zadd(redis_keys.RUNNING, {leases._member(delivery.subscription.queue, delivery.pk): time.time()})
    assert leases.leases_reclaim(redis_client()) == 1
    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DELIVERED
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)


def test_an_attempt_that_meets_a_redis_error_frees_its_lease_for_the_requeued_copy(
    test_consumer: type[Behaviour],
) -> None:
    test_consumer.raises = redis.ConnectionError("Redis went away")
    delivery = a_delivery()

    with pytest.raises(redis.ConnectionError):
        attempts.delivery_attempt(delivery_id=delivery.pk)

    assert (lease_held(delivery), starts(delivery)) == (False, 1)
    test_consumer.raises = None
    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DELIVERED
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)


@pytest.mark.parametrize(
    "error",
    [pytest.param(RetryableError("late"), id="retryable"), pytest.param(ValueError("bad data"), id="permanent")],
)
def test_a_failure_recorded_after_another_copy_finished_is_a_counted_duplicate(
    test_consumer: type[Behaviour], error: Exception
) -> None:
    delivery = a_delivery(max_attempts=3)

    def finished_elsewhere() -> None:
        Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.DELIVERED, attempts=1)

    test_consumer.during, test_consumer.raises = finished_elsewhere, error

    assert attempts.delivery_attempt(delivery_id=delivery.pk) == outcomes.DUPLICATE
    assert duplicates(delivery) == 1
    assert DeadLetter.objects.filter(delivery=delivery).count() == 0


def test_a_copy_that_came_through_another_queue_runs_under_its_subscriptions_lease() -> None:
    delivery = a_delivery()
    elsewhere = redis_keys.subscription_queue("elsewhere")

    assert attempts.delivery_attempt(delivery_id=delivery.pk, queue=elsewhere) == DeliveryState.DELIVERED

    assert (lease_held(delivery), starts(delivery), duplicates(delivery)) == (False, None, 0)
    assert redis_client().zcard(redis_keys.RUNNING) == 0
    delivery.refresh_from_db()
    # The start counted with the lease under the wrong queue stays counted.
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)


def test_a_finished_delivery_that_came_through_another_queue_is_a_counted_duplicate() -> None:
    delivery = a_delivery()
    assert attempts.delivery_attempt(delivery_id=delivery.pk) == DeliveryState.DELIVERED

    outcome = attempts.delivery_attempt(delivery_id=delivery.pk, queue=redis_keys.subscription_queue("elsewhere"))

    assert (outcome, duplicates(delivery), starts(delivery)) == (outcomes.DUPLICATE, 1, None)
    assert redis_client().zcard(redis_keys.RUNNING) == 0


def test_the_broker_tag_is_read_from_the_task_message_properties() -> None:
    task = SimpleNamespace(request=SimpleNamespace(properties={"delivery_tag": "5f0c-tag"}, delivery_info={}))
    assert tasks._broker_tag(task) == "5f0c-tag"  # type: ignore[arg-type]
    task.request.properties = None
    assert tasks._broker_tag(task) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("commit_seconds", "first_delivery", "first_starts"),
    [
        # One transaction: the first delivery's effect and delivered mark roll back too.
        (attempts.BATCH_COMMIT_SECONDS, (DeliveryState.PENDING, 0, ""), 1),
        # A commit after every delivery: the first stays delivered, its start forgotten.
        (0.0, (DeliveryState.DELIVERED, 1, ""), None),
    ],
)
def test_an_interrupted_first_run_of_a_transactional_batch_rolls_back_what_it_did_not_commit(
    monkeypatch: pytest.MonkeyPatch, commit_seconds: float, first_delivery: tuple[object, ...], first_starts: int | None
) -> None:
    """Interrupted at its second delivery (a hard time limit), a batch loses the effects
    it has not committed. The interrupted delivery keeps its start and its lease; the
    third, never begun, is uncounted and freed."""
    monkeypatch.setattr(attempts, "BATCH_COMMIT_SECONDS", commit_seconds)
    ran: list[str] = []

    @consumer("test-batch-effects")
    def handle(message: ReceivedMessage) -> None:
        ran.append(message.id)
        Delivery.objects.filter(message_id=message.id).update(last_error=f"effect {len(ran)}")
        if len(ran) == 2:
            raise SystemExit("hard time limit")

    sub = SubscriptionFactory.create(handler="test-batch-effects", batch_size=10)
    deliveries = [DeliveryFactory.create(subscription=sub, message__topic=sub.topic) for _ in range(3)]

    with pytest.raises(SystemExit):
        attempts.delivery_attempt_batch(delivery_ids=[d.pk for d in deliveries])

    assert len(ran) == 2
    assert list(Delivery.objects.order_by("pk").values_list("state", "attempts", "last_error")) == [
        first_delivery,
        (DeliveryState.PENDING, 0, ""),
        (DeliveryState.PENDING, 0, ""),
    ]
    assert [starts(d) for d in deliveries] == [first_starts, 1, 0]
    assert [lease_held(d) for d in deliveries] == [False, True, False]


def test_a_failing_delivery_in_a_transactional_batch_rolls_back_alone(test_consumer: type[Behaviour]) -> None:
    """Each delivery of a batch has its own savepoint: a handler's error undoes its own
    writes and records its failure; the others commit as delivered."""

    @consumer("test-batch-savepoints", retry_for=(RetryableError,))
    def handle(message: ReceivedMessage) -> None:
        Message.objects.filter(pk=message.id).update(key="effect")
        if message.payload.get("fail"):
            raise RetryableError("try later")

    sub = SubscriptionFactory.create(handler="test-batch-savepoints", batch_size=10, max_attempts=3)
    deliveries = [
        DeliveryFactory.create(subscription=sub, message__topic=sub.topic, message__payload={"fail": n == 1})
        for n in range(3)
    ]

    outcomes = attempts.delivery_attempt_batch(delivery_ids=[d.pk for d in deliveries])

    assert outcomes == [DeliveryState.DELIVERED, DeliveryState.RETRYING, DeliveryState.DELIVERED]
    rows = list(Delivery.objects.order_by("pk").values_list("state", "attempts", "last_error"))
    assert [row[:2] for row in rows] == [
        (DeliveryState.DELIVERED, 1),
        (DeliveryState.RETRYING, 1),
        (DeliveryState.DELIVERED, 1),
    ]
    assert "RetryableError: try later" in rows[1][2]
    keys = [Message.objects.get(pk=d.message_id).key for d in deliveries]
    assert keys == ["effect", "", "effect"]
    assert [lease_held(d) for d in deliveries] == [False] * 3
    assert [starts(d) for d in deliveries] == [None, 1, None]
