"""Tests for apps.deadletters.services: replay (resets, rate, skip rules, rerouting) and purge."""

import datetime
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from apps.core import redis_keys
from apps.core.redis import redis_client
from apps.deadletters import services
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.deadletters.services import InvalidReplayRateError, ReplayReport
from apps.delivery import outbox, scheduler
from apps.delivery.models import Delivery, DeliveryState
from apps.topology.models import Subscription, Topic, UnroutablePolicy
from tests.deadletters.builders import T0, dead_letter, dead_letter_of, unroutable_dead_letter
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

NO_SKIPS = {"in_flight": 0, "delivered": 0, "superseded": 0, "already_rerouted": 0, "expired": 0}


def report_dict(report: ReplayReport) -> dict[str, Any]:
    """The report without its time, which depends on when the test ran."""
    return {
        "selected": report.selected,
        "replayed": report.replayed,
        "rerouted": report.rerouted,
        "still_unroutable": report.still_unroutable,
        "skipped": report.skipped,
        "rate_per_second": report.rate_per_second,
    }


def test_replay_resets_each_dead_delivery_to_start_afresh(billing: Subscription) -> None:
    dead = [dead_letter(billing) for _ in range(3)]
    before = timezone.now()

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all(), rate_per_second=4)

    after = timezone.now()
    deliveries = list(Delivery.objects.order_by("pk"))
    assert [(d.state, d.attempts, d.last_error, d.finished_at, d.sent_at, d.replayed_from_id) for d in deliveries] == [
        (DeliveryState.PENDING, 0, "", None, None, dl.pk) for dl in dead
    ]
    first_due = deliveries[0].not_before
    assert first_due is not None and before <= first_due <= after
    assert [d.not_before for d in deliveries] == [first_due + datetime.timedelta(seconds=i / 4) for i in range(3)]
    assert report_dict(report) == {
        "selected": 3,
        "replayed": 3,
        "rerouted": 0,
        "still_unroutable": 0,
        "skipped": NO_SKIPS,
        "rate_per_second": 4,
    }
    assert report.last_due_at == first_due + datetime.timedelta(seconds=0.5)
    replayed_at = {dl.replayed_at for dl in DeadLetter.objects.all()}
    assert len(replayed_at) == 1
    (when,) = replayed_at
    assert when is not None and before <= when <= after


def test_replay_keeps_the_dead_letter_and_its_record_of_the_failure(billing: Subscription) -> None:
    dl = dead_letter(billing, attempts=5)

    services.dead_letters_replay(dead_letters=[dl.pk])

    dl.refresh_from_db()
    assert (dl.reason, dl.attempts, dl.last_error.splitlines()[-1]) == (
        DeadLetterReason.EXHAUSTED,
        5,
        "apps.core.errors.RetryableError: simulated failure (fail_always)",
    )
    assert list(dl.replays.values_list("pk", flat=True)) == [dl.delivery_id]


def test_replay_by_ids_replays_only_those(billing: Subscription) -> None:
    chosen, other = dead_letter(billing), dead_letter(billing)

    report = services.dead_letters_replay(dead_letters=[chosen.pk], rate_per_second=10)

    assert (report.selected, report.replayed) == (1, 1)
    states = dict(Delivery.objects.values_list("pk", "state"))
    assert states == {chosen.delivery_id: DeliveryState.PENDING, other.delivery_id: DeliveryState.DEAD}
    assert DeadLetter.objects.get(pk=other.pk).replayed_at is None


def due_offsets() -> list[float]:
    """Seconds from the first replayed delivery's due time to each one's, in dead-letter order."""
    due = list(Delivery.objects.order_by("replayed_from_id").values_list("not_before", flat=True))
    return [(d - due[0]).total_seconds() for d in due]  # type: ignore[operator]


def test_the_default_rate_is_50_per_second_in_steps_of_a_tenth_of_a_second(billing: Subscription) -> None:
    for _ in range(12):
        dead_letter(billing)

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all())

    assert report.rate_per_second == 50
    assert due_offsets() == [0.0] * 5 + [0.1] * 5 + [0.2] * 2


@pytest.mark.parametrize(
    ("rate", "offsets"),
    [
        (1, [0.0, 1.0, 2.0]),  # below 10 per second: one per step of 1/rate
        (15, [0.0, 0.0, 2 / 15]),  # 1.5 per tenth of a second: steps of 2
        (1000, [0.0, 0.0, 0.0]),  # 100 per step
    ],
)
def test_replays_fall_due_in_steps_that_keep_the_average_rate(
    billing: Subscription, rate: float, offsets: list[float]
) -> None:
    for _ in range(3):
        dead_letter(billing)

    services.dead_letters_replay(dead_letters=DeadLetter.objects.all(), rate_per_second=rate)

    assert due_offsets() == pytest.approx(offsets, abs=1e-6)


@pytest.mark.parametrize("rate", [0, -1, 1000.5, float("nan"), float("inf")])
def test_a_rate_out_of_bounds_is_refused_before_anything_changes(billing: Subscription, rate: float) -> None:
    dl = dead_letter(billing)

    with pytest.raises(InvalidReplayRateError):
        services.dead_letters_replay(dead_letters=[dl.pk], rate_per_second=rate)

    assert Delivery.objects.get().state == DeliveryState.DEAD
    assert DeadLetter.objects.get().replayed_at is None


def test_replay_skips_deliveries_that_are_open_or_delivered_and_counts_them(billing: Subscription) -> None:
    dead_letter(billing, delivery_state=DeliveryState.PENDING)
    dead_letter(billing, delivery_state=DeliveryState.RETRYING)
    dead_letter(billing, delivery_state=DeliveryState.DELIVERED)
    states_before = list(Delivery.objects.order_by("pk").values_list("state", "attempts", "not_before"))

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all())

    assert report_dict(report) == {
        "selected": 3,
        "replayed": 0,
        "rerouted": 0,
        "still_unroutable": 0,
        "skipped": {**NO_SKIPS, "in_flight": 2, "delivered": 1},
        "rate_per_second": 50,
    }
    assert report.last_due_at is None
    assert list(Delivery.objects.order_by("pk").values_list("state", "attempts", "not_before")) == states_before
    assert DeadLetter.objects.filter(replayed_at__isnull=False).count() == 0


def test_replaying_the_same_dead_letter_twice_replays_it_once(billing: Subscription) -> None:
    dl = dead_letter(billing)

    first = services.dead_letters_replay(dead_letters=[dl.pk])
    second = services.dead_letters_replay(dead_letters=[dl.pk])

    assert (first.replayed, second.replayed, second.skipped["in_flight"]) == (1, 0, 1)


def test_a_delivery_that_died_again_is_replayed_from_its_newest_dead_letter_only(billing: Subscription) -> None:
    first_death = dead_letter(billing, replayed_at=T0)
    delivery = first_death.delivery
    assert delivery is not None
    second_death = dead_letter_of(delivery, reason=DeadLetterReason.PERMANENT, attempts=1)

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all())

    assert (report.replayed, report.skipped["superseded"]) == (1, 1)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.replayed_from_id) == (DeliveryState.PENDING, 0, second_death.pk)
    assert DeadLetter.objects.get(pk=first_death.pk).replayed_at == T0


def test_a_dead_letter_replayed_before_is_replayed_again_once_its_delivery_died_without_a_newer_one(
    billing: Subscription,
) -> None:
    # The newer dead letter was purged: the older one is the delivery's newest again.
    dl = dead_letter(billing, replayed_at=T0)

    report = services.dead_letters_replay(dead_letters=[dl.pk])

    dl.refresh_from_db()
    assert report.replayed == 1
    assert dl.replayed_at is not None and dl.replayed_at > T0


def test_replay_skips_messages_whose_ttl_has_passed(billing: Subscription) -> None:
    dead_letter(billing, reason=DeadLetterReason.EXPIRED, expires_at=timezone.now() - datetime.timedelta(seconds=1))

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all())

    assert (report.replayed, report.skipped) == (0, {**NO_SKIPS, "expired": 1})
    assert Delivery.objects.get().state == DeliveryState.DEAD


def test_replay_works_through_chunks_and_keeps_spreading_across_them(
    billing: Subscription, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    for _ in range(5):
        dead_letter(billing)
    caplog.set_level(logging.INFO, logger="apps.deadletters.services")

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all(), rate_per_second=10)

    assert due_offsets() == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert (report.selected, report.replayed) == (5, 5)
    assert [r.getMessage() for r in caplog.records] == [
        "Replaying 5 dead letters at up to 10 per second.",
        "Replay: 2 of 5 dead letters done (2 replayed, 0 rerouted, 0 skipped).",
        "Replay: 4 of 5 dead letters done (4 replayed, 0 rerouted, 0 skipped).",
        "Replay: 5 of 5 dead letters done (5 replayed, 0 rerouted, 0 skipped).",
    ]


def test_replay_of_a_filter_keeps_matching_rows_after_earlier_chunks_changed(
    billing: Subscription, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "replayed=false" stops matching each chunk once it is replayed; the next chunks still come.
    monkeypatch.setattr(services, "CHUNK_SIZE", 1)
    for _ in range(3):
        dead_letter(billing)

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.filter(replayed_at__isnull=True))

    assert report.replayed == 3


def test_unroutable_message_is_routed_again_and_its_deliveries_link_to_the_dead_letter(
    orders: Topic, billing: Subscription, inventory: Subscription
) -> None:
    kept = unroutable_dead_letter(orders)

    report = services.dead_letters_replay(dead_letters=[kept.pk])

    deliveries = Delivery.objects.filter(message=kept.message).order_by("subscription__name")
    assert [(d.subscription.name, d.state, d.attempts, d.replayed_from_id) for d in deliveries] == [
        ("billing-charge", DeliveryState.PENDING, 0, kept.pk),
        ("inventory-reserve", DeliveryState.PENDING, 0, kept.pk),
    ]
    assert report_dict(report) == {
        "selected": 1,
        "replayed": 0,
        "rerouted": 1,
        "still_unroutable": 0,
        "skipped": NO_SKIPS,
        "rate_per_second": 50,
    }
    kept.refresh_from_db()
    assert kept.replayed_at is not None


def test_a_still_unroutable_message_is_dead_lettered_again_and_reported(orders: Topic) -> None:
    Topic.objects.filter(pk=orders.pk).update(unroutable=UnroutablePolicy.DEAD_LETTER)
    kept = unroutable_dead_letter(orders)
    SubscriptionFactory.create(name="big-orders", topic=orders, filter_policy={"total": [{"numeric": [">", 100]}]})

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all())

    assert (report.selected, report.rerouted, report.still_unroutable) == (1, 0, 1)
    assert Delivery.objects.count() == 0
    again = DeadLetter.objects.exclude(pk=kept.pk).get()
    assert (again.message_id, again.reason, again.replayed_at) == (kept.message_id, DeadLetterReason.UNROUTABLE, None)
    assert DeadLetter.objects.get(pk=kept.pk).replayed_at is not None


def test_an_unroutable_dead_letter_is_rerouted_once(orders: Topic, billing: Subscription) -> None:
    kept = unroutable_dead_letter(orders)
    services.dead_letters_replay(dead_letters=[kept.pk])

    report = services.dead_letters_replay(dead_letters=[kept.pk])

    assert (report.rerouted, report.skipped["already_rerouted"]) == (0, 1)
    assert Delivery.objects.filter(message=kept.message).count() == 1


def test_dead_letters_created_during_a_replay_are_not_replayed_by_it(
    orders: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "CHUNK_SIZE", 1)
    Topic.objects.filter(pk=orders.pk).update(unroutable=UnroutablePolicy.DEAD_LETTER)
    unroutable_dead_letter(orders)

    report = services.dead_letters_replay(dead_letters=DeadLetter.objects.filter(replayed_at__isnull=True))

    assert (report.selected, report.still_unroutable) == (1, 1)
    assert DeadLetter.objects.filter(replayed_at__isnull=True).count() == 1


def test_replays_go_to_redis_after_commit_spread_on_the_delay_schedule(
    billing: Subscription,
    private_redis: str,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    dead = [dead_letter(billing) for _ in range(3)]
    client = redis_client()
    for dl in dead:
        client.set(redis_keys.starts(dl.delivery_id), 5)  # type: ignore[arg-type]
    sent_now: list[scheduler.ScheduledDelivery] = []
    monkeypatch.setattr(outbox, "deliveries_send", lambda entries, batch_sizes=None: sent_now.extend(entries))

    with django_capture_on_commit_callbacks(execute=True):
        services.dead_letters_replay(dead_letters=DeadLetter.objects.all(), rate_per_second=0.5)

    deliveries = list(Delivery.objects.order_by("pk"))
    assert [client.exists(redis_keys.starts(d.pk)) for d in deliveries] == [0, 0, 0]
    assert sent_now == [scheduler.ScheduledDelivery(billing.queue, deliveries[0].pk)]
    # redis-py types every reply of its sync client as maybe-awaitable.
    scheduled: list[tuple[bytes, float]] = client.zrange(redis_keys.SCHEDULED, 0, -1, withscores=True)  # type: ignore[assignment]
    assert (
        [(scheduler.ScheduledDelivery.decode(m), score) for m, score in scheduled]
        == [
            (scheduler.ScheduledDelivery(billing.queue, d.pk), d.not_before.timestamp())  # type: ignore[union-attr]
            for d in deliveries[1:]
        ]
    )
    assert deliveries[2].not_before - deliveries[0].not_before == datetime.timedelta(seconds=4)  # type: ignore[operator]
    assert all(d.sent_at is not None for d in deliveries)


def test_replays_the_relay_swept_first_are_not_sent_again(
    billing: Subscription,
    private_redis: str,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    dead_letter(billing), dead_letter(billing)
    sent_now: list[scheduler.ScheduledDelivery] = []
    monkeypatch.setattr(outbox, "deliveries_send", lambda entries, batch_sizes=None: sent_now.extend(entries))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.dead_letters_replay(dead_letters=DeadLetter.objects.all())
    swept_at = timezone.now()
    Delivery.objects.update(sent_at=swept_at)  # the relay's outbox sweep got there first

    for callback in callbacks:
        callback()

    assert sent_now == []
    assert redis_client().zcard(redis_keys.SCHEDULED) == 0
    assert set(Delivery.objects.values_list("sent_at", flat=True)) == {swept_at}


def test_replay_stands_when_redis_is_down_and_waits_in_the_outbox(
    billing: Subscription,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    redis_client.cache_clear()
    dead_letter(billing)

    with django_capture_on_commit_callbacks(execute=True):
        report = services.dead_letters_replay(dead_letters=DeadLetter.objects.all())

    redis_client.cache_clear()
    assert report.replayed == 1
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.sent_at) == (DeliveryState.PENDING, None)
    assert "replayed deliveries wait in the outbox" in caplog.text


# Purge.


def test_purge_deletes_the_selected_dead_letters_and_keeps_messages_and_deliveries(billing: Subscription) -> None:
    first, second, kept = dead_letter(billing), dead_letter(billing), dead_letter(billing)

    report = services.dead_letters_purge(dead_letters=[first.pk, second.pk])

    assert report.purged == 2
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]
    assert Delivery.objects.count() == 3


def test_purge_by_filter_deletes_all_it_matches_in_chunks(
    billing: Subscription, inventory: Subscription, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    for _ in range(5):
        dead_letter(billing)
    kept = dead_letter(inventory)

    report = services.dead_letters_purge(dead_letters=DeadLetter.objects.filter(subscription=billing))

    assert report.purged == 5
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]


def test_purging_a_replayed_dead_letter_leaves_its_replay_running_without_the_link(billing: Subscription) -> None:
    dl = dead_letter(billing)
    services.dead_letters_replay(dead_letters=[dl.pk])

    report = services.dead_letters_purge(dead_letters=[dl.pk])

    delivery = Delivery.objects.get()
    assert (report.purged, delivery.state, delivery.replayed_from_id) == (1, DeliveryState.PENDING, None)


def test_purge_of_nothing_purges_nothing(billing: Subscription) -> None:
    dead_letter(billing)

    assert services.dead_letters_purge(dead_letters=DeadLetter.objects.none()).purged == 0
    assert services.dead_letters_purge(dead_letters=[]).purged == 0
    assert DeadLetter.objects.count() == 1
