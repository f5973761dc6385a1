"""Evaluation: rules measured on the subscriptions they select, incidents recorded, notices grouped."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.monitoring import alerting
from apps.monitoring.alert_rules import alerts_parse, alerts_read
from apps.monitoring.models import Alert, AlertIncident, AlertRule, SubscriptionSample
from apps.monitoring.notifiers import AlertNotice
from apps.monitoring.readings import SubscriptionReading
from tests.factories import DeadLetterFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULES = """
notifiers:
  - {name: log, kind: log}
  - {name: ops, kind: email, to: [ops@example.com]}
rules:
  - {name: backlog, kind: queue_depth, subscriptions: "billing-*", above: 5, for: 10, severity: warning,
     notifiers: [log, ops]}
"""


class Outbox:
    """Records what would have been sent, and answers `accepted`."""

    def __init__(self, accepted: bool = True) -> None:
        self.sent: list[tuple[str, AlertNotice]] = []
        self.accepted = accepted

    def __call__(self, *, notifier: Any, notice: AlertNotice) -> bool:
        self.sent.append((notifier.name, notice))
        return self.accepted


def depth(name: str, ready: int, **extra: Any) -> SubscriptionReading:
    return SubscriptionReading(name=name, depth={"ready": ready, "outbox": extra.pop("outbox", 0)}, **extra)


def one_rule(fields: str) -> Any:
    """Parse one rule named r on subscription s from its kind's fields, e.g. `{kind: oldest_age, above: 1}`."""
    return alerts_parse(
        f"rules:\n  - {fields[:-1]}, name: r, subscriptions: s, severity: info, notifiers: []}}\n"
    ).rules[0]


def evaluate(figures: list[SubscriptionReading], second: int, outbox: Outbox) -> None:
    alerting.alerts_evaluate(figures=figures, now=T0 + timedelta(seconds=second), send=outbox)


def test_a_rule_fires_after_its_hold_notifies_each_notifier_once_and_resolves_once() -> None:
    alerting.alerts_sync(spec=alerts_parse(RULES))
    outbox = Outbox()

    for second in (0, 5):
        evaluate([depth("billing-charge", 9), depth("inventory-reserve", 99)], second, outbox)
    assert outbox.sent == []
    assert Alert.objects.get().status == "pending"
    for second in (10, 15, 20):
        evaluate([depth("billing-charge", 9), depth("inventory-reserve", 99)], second, outbox)
    assert [(name, n.notification.value, [a.subscription for a in n.alerts]) for name, n in outbox.sent] == [
        ("log", "fired", ["billing-charge"]),
        ("ops", "fired", ["billing-charge"]),
    ]
    evaluate([depth("billing-charge", 2)], 25, outbox)
    evaluate([depth("billing-charge", 1)], 30, outbox)

    assert [(name, n.notification.value) for name, n in outbox.sent[2:]] == [("log", "resolved"), ("ops", "resolved")]
    incident = AlertIncident.objects.get()
    assert (incident.rule, incident.subscription, incident.severity) == ("backlog", "billing-charge", "warning")
    assert (incident.fired_at, incident.fired_value) == (T0 + timedelta(seconds=10), 9)
    assert (incident.resolved_at, incident.resolved_value) == (T0 + timedelta(seconds=25), 2)
    assert incident.notifications == 2
    alert = Alert.objects.get()
    assert (alert.subscription, alert.status, alert.value) == ("billing-charge", "resolved", 1)


def test_a_rule_on_many_subscriptions_sends_one_notice_per_notifier() -> None:
    alerting.alerts_sync(spec=alerts_parse(RULES.replace("for: 10", "for: 0").replace("[log, ops]", "[log]")))
    outbox = Outbox()

    evaluate([depth(f"billing-{n}", 10 + n) for n in range(200)], 0, outbox)
    evaluate([depth(f"billing-{n}", 10 + n) for n in range(200)], 5, outbox)

    assert len(outbox.sent) == 1
    notice = outbox.sent[0][1]
    assert len(notice.alerts) == 200
    assert notice.summary().startswith("[warning] backlog FIRED on billing-0 (10), billing-1 (11),")
    assert notice.summary().endswith("and 190 more (queue_depth, threshold 5)")
    assert AlertIncident.objects.count() == 200


def test_a_notice_no_notifier_accepted_is_not_counted() -> None:
    alerting.alerts_sync(spec=alerts_parse(RULES.replace("for: 10", "for: 0")))
    evaluate([depth("billing-charge", 9)], 0, Outbox(accepted=False))
    assert AlertIncident.objects.get().notifications == 0


@pytest.mark.parametrize(
    ("rule", "figures", "expected"),
    [
        ("{kind: queue_depth, above: 5, states: [ready, outbox]}", depth("s", 3, outbox=3), (6.0, True)),
        ("{kind: oldest_age, above: 60}", SubscriptionReading(name="s", oldest_age=61), (61.0, True)),
        ("{kind: outbox_backlog, above: 10}", depth("s", 50, outbox=10), (10.0, False)),
        ("{kind: no_consumers, for: 1}", SubscriptionReading(name="s", consumers=0), (0.0, True)),
        ("{kind: no_consumers, for: 1}", SubscriptionReading(name="s", consumers=0, paused=True), None),
        ("{kind: no_consumers, for: 1}", SubscriptionReading(name="s", consumers=None), None),
    ],
)
def test_each_kind_measures_its_figure(rule: str, figures: SubscriptionReading, expected: Any) -> None:
    spec = one_rule(rule)
    assert alerting.rule_measure(spec, figures, now=T0) == expected


def test_dead_letter_growth_counts_the_window() -> None:
    subscription = SubscriptionFactory(name="billing-charge")
    DeadLetterFactory.create_batch(3, subscription=subscription)
    spec = one_rule("{kind: dead_letters_growth, by: 3, within: 1m}")
    now = datetime.now(UTC)
    assert alerting.rule_measure(spec, SubscriptionReading(name="billing-charge"), now=now) == (3.0, True)
    assert alerting.rule_measure(spec, SubscriptionReading(name="billing-charge"), now=now + timedelta(minutes=2)) == (
        0.0,
        False,
    )


def test_error_rate_is_failures_over_all_outcomes_between_samples() -> None:
    for second, (delivered, retried, dead) in enumerate([(0, 0, 0), (10, 0, 0), (16, 3, 1)]):
        SubscriptionSample.objects.create(
            taken_at=T0 + timedelta(minutes=second), subscription="s", delivered=delivered, retried=retried, dead=dead
        )
    spec = one_rule("{kind: error_rate, above: 0.3, over: 1m, min_attempts: 10}")
    # From the sample a minute before (10, 0, 0) to the newest (16, 3, 1): 4 failures of 10.
    assert alerting.rule_measure(spec, SubscriptionReading(name="s"), now=T0 + timedelta(minutes=2)) == (0.4, True)


def test_sync_alerts_command_applies_the_file_and_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    SubscriptionFactory(name="billing-charge")
    good = tmp_path / "alerts.yaml"
    good.write_text(RULES)
    out = StringIO()
    call_command("sync_alerts", "--file", str(good), stdout=out)
    assert out.getvalue() == f"Alert rules synced from {good}: 1 rules, 2 notifiers.\n"

    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("above: 5", "above: lots").replace('"billing-*"', "billing-refund"))
    with pytest.raises(CommandError) as raised:
        call_command("sync_alerts", "--file", str(bad))
    assert str(raised.value) == (
        f"{bad} is not valid; nothing was changed:\n  rules[0] (backlog).above: 'lots' is not of type 'number'"
    )
    assert list(AlertRule.objects.values_list("name", "spec__threshold")) == [("backlog", 5.0)]


def test_six_rules_on_200_subscriptions_cost_a_bounded_number_of_queries(django_assert_max_num_queries: Any) -> None:
    alerting.alerts_sync(spec=alerts_read(Path(__file__).parents[2] / "config" / "alerts.yaml", environ={}))
    figures = [depth(f"sub-{n}", 500, consumers=1) for n in range(200)]
    alerting.alerts_evaluate(figures=figures, now=T0, send=Outbox())  # creates the 1,200 alerts

    with django_assert_max_num_queries(30):
        report = alerting.alerts_evaluate(figures=figures, now=T0 + timedelta(minutes=2), send=Outbox())

    assert report.evaluated == 1200
    assert Alert.objects.filter(rule__name="queue-backlog", status="firing").count() == 200
