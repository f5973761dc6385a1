"""The simulator's traffic: realistic orders, the asked-for mix of failures and delays, reproducible."""

from datetime import timedelta
from itertools import islice

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.demo import simulation
from tests.factories import DeliveryFactory, MessageFactory, SubscriptionFactory, TopicFactory


def test_the_same_seed_yields_the_same_orders() -> None:
    first = list(islice(simulation.orders(run="r", mix=simulation.Mix(), seed=7), 50))
    again = list(islice(simulation.orders(run="r", mix=simulation.Mix(), seed=7), 50))
    assert first == again
    assert [o.key for o in first[:3]] == ["r-1", "r-2", "r-3"]


def test_orders_carry_regions_amounts_emails_and_the_mix_of_failures() -> None:
    mix = simulation.Mix(fail_times=0.2, fail_always=0.1, email=0.5, delayed=0.1)
    orders = list(islice(simulation.orders(run="r", mix=mix, seed=1), 2000))

    regions = {o.attributes["region"] for o in orders}
    assert regions == {"eu", "us", "uk", "apac"}
    assert all(float(o.payload["total"]) > 0 and o.payload["items"] for o in orders)
    fail_always = sum(o.payload.get("simulate") == "fail_always" for o in orders)
    fail_times = sum(isinstance(o.payload.get("simulate"), dict) for o in orders)
    emails = sum("email" in o.payload for o in orders)
    delayed = [o.delay_seconds for o in orders if o.delay_seconds]
    assert 150 <= fail_always <= 250 and 330 <= fail_times <= 470  # 10% and 20% of 2000
    assert 900 <= emails <= 1100
    assert 150 <= len(delayed) <= 250 and all(1 <= d <= 5 for d in delayed)
    assert orders[0].as_body().keys() >= {"payload", "attributes", "key"}


def test_no_failures_asked_none_made() -> None:
    mix = simulation.Mix(fail_times=0, fail_always=0, delayed=0)
    orders = list(islice(simulation.orders(run="r", mix=mix, seed=1), 500))
    assert not any("simulate" in o.payload or o.delay_seconds for o in orders)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate must be above 0"),
        (["--fail-times", "2"], "--fail-times must be between 0 and 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate", *args)


@pytest.mark.django_db
def test_the_summary_reads_the_runs_deliveries_from_the_ledger() -> None:
    topic = TopicFactory(name="orders.created")
    billing, stock = SubscriptionFactory(name="billing", topic=topic), SubscriptionFactory(name="stock", topic=topic)
    start = timezone.now()
    for n, (attempts, state) in enumerate([(1, "delivered"), (3, "delivered"), (5, "dead"), (0, "pending")]):
        message = MessageFactory(topic=topic, key=f"run-{n}")
        finished = start + timedelta(milliseconds=100 * (n + 1)) if attempts else None
        DeliveryFactory(
            message=message,
            subscription=billing,
            attempts=attempts,
            state=state,
            created_at=start,
            finished_at=finished,
        )
        DeliveryFactory(
            message=message, subscription=stock, attempts=1, state="delivered", created_at=start, finished_at=finished
        )
    MessageFactory(topic=topic, key="other-run-1")

    rows = {row.subscription: row for row in simulation.run_summary(run="run")}

    assert simulation.run_published(run="run") == 4
    billing_row = rows["billing"]
    assert (billing_row.deliveries, billing_row.delivered, billing_row.retried, billing_row.dead_lettered) == (
        4,
        2,
        6,
        1,
    )
    assert billing_row.lost == 1  # the pending one
    assert (billing_row.p50_ms, billing_row.p99_ms) == pytest.approx((150.0, 199.0))
    assert (rows["all"].deliveries, rows["all"].delivered, rows["all"].retried, rows["all"].lost) == (8, 6, 6, 1)
    progress = simulation.run_progress(run="run")
    assert (progress.delivered, progress.dead, progress.open, progress.total) == (6, 1, 1, 8)
