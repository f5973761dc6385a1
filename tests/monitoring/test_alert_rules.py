"""config/alerts.yaml: validated whole; every problem names the rule and the field."""

from pathlib import Path

import pytest

from apps.monitoring.alert_rules import AlertRulesError, RuleSpec, alerts_parse, alerts_read, duration_seconds

SECRET = "whsec_c3dpdGNoYm9hcmQtZGVtby13ZWJob29rLXNlY3JldCE="
GOOD = """
notifiers:
  - {name: log, kind: log}
  - {name: hook, kind: webhook, url: "http://${HOOK_HOST:-127.0.0.1}:9/x", secrets_env: HOOK_SECRETS}
  - {name: chat, kind: webhook, url: "https://hooks.example.com/1", format: slack}
  - {name: ops, kind: email, to: [ops@example.com]}
rules:
  - {name: backlog, kind: queue_depth, subscriptions: "*", above: 5, for: 30s, severity: warning,
     notifiers: [log, hook], reminder: 1h}
  - {name: old, kind: oldest_age, subscriptions: [billing-charge, "eu-*"], above: 300, severity: critical,
     notifiers: [ops]}
  - {name: dlq, kind: dead_letters_growth, subscriptions: billing-charge, by: 3, within: 5m, severity: info,
     notifiers: [chat]}
  - {name: errors, kind: error_rate, subscriptions: "*", above: 0.25, over: 2m, min_attempts: 10,
     severity: critical, notifiers: [log]}
  - {name: idle, kind: no_consumers, subscriptions: "*", for: 90, severity: critical, notifiers: [log]}
  - {name: outbox, kind: outbox_backlog, subscriptions: "*", above: 100, for: 1m, severity: warning,
     notifiers: [log], states: [ready]}
"""
ENV = {"HOOK_SECRETS": SECRET}


def test_every_kind_and_notifier_parses_into_specs() -> None:
    spec = alerts_parse(GOOD.replace(", states: [ready]", ""), environ=ENV, subscriptions={"billing-charge"})

    assert [n.kind for n in spec.notifiers] == ["log", "webhook", "webhook", "email"]
    assert spec.notifiers[1].url == "http://127.0.0.1:9/x"
    assert spec.notifiers[2].format == "slack"
    backlog, old, dlq, errors, idle, outbox = spec.rules
    assert backlog == RuleSpec(
        name="backlog",
        kind="queue_depth",
        severity="warning",
        selectors=["*"],
        notifiers=["log", "hook"],
        threshold=5.0,
        hold=30.0,
        reminder=3600.0,
    )
    assert old.selectors == ["billing-charge", "eu-*"] and old.threshold == 300 and old.hold == 0
    assert (dlq.threshold, dlq.window) == (3, 300)
    assert (errors.threshold, errors.window, errors.min_attempts) == (0.25, 120, 10)
    assert idle.hold == 90
    assert (outbox.threshold, outbox.hold) == (100, 60)
    assert old.selects("eu-vat") and old.selects("billing-charge") and not old.selects("inventory-reserve")


def test_every_problem_names_the_rule_and_the_field() -> None:
    text = GOOD.replace("above: 5,", "above: -1,").replace("by: 3,", "").replace("above: 0.25", "above: 2")
    text = text.replace("notifiers: [ops]", "notifiers: [pager]").replace("for: 90", "for: soon")

    with pytest.raises(AlertRulesError) as raised:
        alerts_parse(text, environ=ENV)

    assert raised.value.problems == [
        "rules[0] (backlog).above: -1 is less than the minimum of 0",
        "rules[4] (idle).for: 'soon' is not valid under any of the given schemas",
    ]
    text = (
        GOOD.replace("by: 3,", "").replace("above: 0.25", "above: 2").replace("notifiers: [ops]", "notifiers: [pager]")
    )
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse(text, environ=ENV, subscriptions={"inventory-reserve"})
    assert raised.value.problems == [
        "rules[1] (old).notifiers[0]: unknown notifier 'pager' (declared: chat, hook, log, ops)",
        "rules[1] (old).subscriptions: no subscription named 'billing-charge'",
        "rules[2] (dlq).by: a dead_letters_growth rule needs by",
        "rules[2] (dlq).subscriptions: no subscription named 'billing-charge'",
        "rules[3] (errors).above: an error rate is a fraction between 0 and 1",
        "rules[5] (outbox).states: a outbox_backlog rule takes no states",
    ]


def test_notifier_problems_name_the_notifier_and_the_field() -> None:
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse(GOOD.replace("${HOOK_HOST:-127.0.0.1}", "${HOOK_HOST}"), environ={"HOOK_SECRETS": "whsec_x"})
    assert raised.value.problems[:2] == [
        "notifiers[1] (hook).url: environment variable HOOK_HOST is not set; set it or write ${HOOK_HOST:-default}",
        "notifiers[1] (hook).secrets_env: secret 1 in HOOK_SECRETS is malformed; expected whsec_ and base64",
    ]
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse(GOOD, environ={})
    assert (
        raised.value.problems[0]
        == "notifiers[1] (hook).secrets_env: environment variable HOOK_SECRETS is not set or empty"
    )
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse("rules: []\nnotifiers:\n  - {name: ops, kind: email, level: info}\n", environ={})
    assert raised.value.problems == [
        "notifiers[0] (ops).level: a email notifier takes no level",
        "notifiers[0] (ops).to: an email notifier needs the addresses to send to",
    ]


def test_duplicates_bad_yaml_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse(
            GOOD.replace(", states: [ready]", "")
            + "  - {name: idle, kind: no_consumers, subscriptions: x, for: 1, severity: info, notifiers: []}\n",
            environ=ENV,
        )
    assert raised.value.problems == ["rules: 'idle' is declared twice"]
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse("rules: [", source="alerts.yaml")
    assert raised.value.problems[0].startswith("alerts.yaml: not valid YAML:")
    with pytest.raises(AlertRulesError) as raised:
        alerts_parse(
            "rules:\n  - {name: a, kind: queue_depth, subscriptions: '*', severity: loud, notifiers: [], abve: 1}\n"
        )
    assert raised.value.problems == [
        "rules[0] (a): Additional properties are not allowed ('abve' was unexpected)",
        "rules[0] (a).severity: 'loud' is not one of ['info', 'warning', 'critical']",
    ]
    with pytest.raises(AlertRulesError) as raised:
        alerts_read(tmp_path / "missing.yaml")
    assert raised.value.problems == [f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"]


def test_the_shipped_rules_file_is_valid() -> None:
    spec = alerts_read(Path(__file__).parents[2] / "config" / "alerts.yaml", environ={})
    assert {r.kind for r in spec.rules} == {
        "queue_depth",
        "oldest_age",
        "dead_letters_growth",
        "error_rate",
        "no_consumers",
        "outbox_backlog",
    }


@pytest.mark.parametrize(
    ("text", "seconds"), [(5, 5.0), (1.5, 1.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0)]
)
def test_durations_are_seconds_or_a_unit(text: float | str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
