"""config/prometheus/alerts.yml passes promtool; config/grafana/switchboard.json names only exported metrics."""

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps.monitoring.figures import (
    DEPTH_STATES,
    AlertFiring,
    Figures,
    Histogram,
    SubscriptionFigures,
    TopicFigures,
)
from apps.monitoring.metrics import metric_families

CONFIG = Path(__file__).parents[2] / "config"
RULES = CONFIG / "prometheus" / "alerts.yml"
DASHBOARD = CONFIG / "grafana" / "switchboard.json"


def exported_names() -> set[str]:
    """Name every series /metrics exports, rendered from figures of one topic, subscription and alert."""
    empty = Histogram(bounds=(0.1, 1.0), cumulative=(0, 0, 1), sum=2.0)
    subscription = SubscriptionFigures(
        name="billing",
        topic="orders.created",
        paused=False,
        depth={state: 1 for state in DEPTH_STATES},
        oldest_open_age_seconds=1.0,
        dead_letters={"exhausted": 1},
        consumers=1,
        deliveries={"delivered": 1},
        latency=empty,
        handler_duration=empty,
    )
    figures = Figures(
        taken_at=datetime.now(UTC),
        topics=[TopicFigures(name="orders.created", published=1, unroutable=1, unroutable_dead_letters=0)],
        subscriptions=[subscription],
        alerts_firing=[AlertFiring(rule="backlog", severity="warning")],
    )
    return {sample.name for family in metric_families(figures) for sample in family.samples}


EXPORTED = exported_names()
_METRIC = re.compile(r"\bswitchboard_[a-z_]+")


def promtool(*args: str) -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package prometheus; `make test-tools` installs it)")
    done = subprocess.run([path, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", str(RULES))


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", str(RULES.with_name("alerts.test.yml")))


def test_the_prometheus_rules_mirror_the_six_kinds_of_config_alerts_and_name_exported_metrics() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [
        "SwitchboardQueueBacklog",
        "SwitchboardStaleMessages",
        "SwitchboardDeadLettersGrowing",
        "SwitchboardFailingHandler",
        "SwitchboardNoConsumers",
        "SwitchboardOutboxBacklog",
    ]
    named = {name for rule in rules for name in _METRIC.findall(rule["expr"])}
    assert named <= EXPORTED, f"not exported: {sorted(named - EXPORTED)}"


def dashboard_targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_grafana_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert (dashboard["uid"], dashboard["title"]) == ("switchboard", "Switchboard")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) == 12
    for panel in dashboard["panels"]:
        assert {"type", "title", "gridPos", "datasource", "targets"} <= set(panel), panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    used = {name for _, expr in dashboard_targets(dashboard) for name in re.findall(r"\$(\w+)", expr)}
    assert used <= variables


def dashboard_metrics(dashboard: dict[str, Any]) -> set[str]:
    """Name every metric the dashboard's panels and variables query."""
    named = {name for _, expr in dashboard_targets(dashboard) for name in _METRIC.findall(expr)}
    variable_queries = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return named | {name for query in variable_queries for name in _METRIC.findall(query)}


def test_the_grafana_dashboard_names_only_exported_metrics() -> None:
    named = dashboard_metrics(json.loads(DASHBOARD.read_text()))
    assert named <= EXPORTED, f"the dashboard names metrics /metrics does not export: {sorted(named - EXPORTED)}"
    # Every metric of the contract is on the dashboard.
    assert {re.sub(r"_(bucket|sum|count)$", "", n) for n in EXPORTED} - named == {
        "switchboard_delivery_latency_seconds",
        "switchboard_handler_duration_seconds",
    }


def test_a_dashboard_naming_an_unknown_metric_fails_the_check() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][0]["targets"][0]["expr"] = "rate(switchboard_messages_sent_total[1m])"
    dashboard["templating"]["list"][1]["definition"] = "label_values(switchboard_queue_size, subscription)"
    assert dashboard_metrics(dashboard) - EXPORTED == {"switchboard_messages_sent_total", "switchboard_queue_size"}
