"""Tests for apps.topology.loader: parse and validate topology.yaml, naming every problem."""

import base64
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.consumers import consumer_names
from apps.topology.filter_policy import FilterPolicyError, validate_filter_policy
from apps.topology.loader import (
    SubscriptionSpec,
    TopicSpec,
    TopologyError,
    TopologySpec,
    topology_parse,
    topology_read,
)

ONE_TOPIC = "topics: [{name: orders.created}]\n"
# A Standard Webhooks signing secret: whsec_ and the base64 of 32 bytes.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()

# Every consumer the installed apps register, as the loader lists them.
REGISTERED = ", ".join(consumer_names())


@pytest.fixture
def webhook_secrets(monkeypatch: pytest.MonkeyPatch) -> str:
    """Put a valid signing secret in AUDIT_WEBHOOK_SECRETS; return the variable's name."""
    monkeypatch.setenv("AUDIT_WEBHOOK_SECRETS", WEBHOOK_SECRET)
    return "AUDIT_WEBHOOK_SECRETS"


def problems_of(text: str) -> list[str]:
    with pytest.raises(TopologyError) as info:
        topology_parse(text)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_minimal_document_gets_every_default() -> None:
    spec = topology_parse(ONE_TOPIC + "subscriptions: [{name: inventory-reserve, topic: orders.created}]\n")
    assert spec == TopologySpec(
        topics=[TopicSpec(name="orders.created", description="")],
        subscriptions=[
            SubscriptionSpec(
                name="inventory-reserve",
                topic="orders.created",
                consumer_kind="python",
                handler="inventory-reserve",
                webhook_url="",
                filter_policy={},
                batch_size=1,
                paused=None,
                max_attempts=5,
                retry_initial_delay=1.0,
                retry_multiplier=2.0,
                retry_max_delay=300.0,
                retry_jitter=0.2,
            )
        ],
    )


def test_topics_without_subscriptions_are_valid() -> None:
    assert topology_parse(ONE_TOPIC) == TopologySpec(topics=[TopicSpec(name="orders.created")], subscriptions=[])
    assert topology_parse(ONE_TOPIC + "subscriptions: []\n").subscriptions == []


def test_every_field_is_read(webhook_secrets: str) -> None:
    text = """
topics:
  - {name: orders.created, description: An order was placed.}
subscriptions:
  - name: charge-eu
    topic: orders.created
    handler: billing-charge
    filter_policy: {region: [eu-west-1]}
    batch_size: 10
    paused: true
    retry: {max_attempts: 3, initial_delay: 0.5, multiplier: 3, max_delay: 60, jitter: 0}
  - name: audit-hook
    topic: orders.created
    consumer: webhook
    url: https://audit.example.com/hook
    secrets_env: AUDIT_WEBHOOK_SECRETS
"""
    spec = topology_parse(text)
    assert spec.topics == [TopicSpec(name="orders.created", description="An order was placed.")]
    assert spec.subscriptions[0] == SubscriptionSpec(
        name="charge-eu",
        topic="orders.created",
        consumer_kind="python",
        handler="billing-charge",
        filter_policy={"region": ["eu-west-1"]},
        batch_size=10,
        paused=True,
        max_attempts=3,
        retry_initial_delay=0.5,
        retry_multiplier=3.0,
        retry_max_delay=60.0,
        retry_jitter=0.0,
    )
    hook = spec.subscriptions[1]
    assert (hook.name, hook.topic, hook.consumer_kind, hook.handler, hook.webhook_url) == (
        "audit-hook",
        "orders.created",
        "webhook",
        "",
        "https://audit.example.com/hook",
    )
    assert isinstance(spec.subscriptions[0].retry_multiplier, float)


def test_the_shipped_topology_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DEMO_WEBHOOK_SECRETS", WEBHOOK_SECRET)
    spec = topology_read(Path(settings.BASE_DIR) / "config" / "topology.yaml")
    assert "orders.created" in [t.name for t in spec.topics]
    assert {"inventory-reserve", "billing-charge"} <= {s.name for s in spec.subscriptions}


def test_bad_retry_max_attempts_names_entry_and_field() -> None:
    text = ONE_TOPIC + (
        "subscriptions:\n"
        "  - {name: inventory-reserve, topic: orders.created}\n"
        "  - {name: billing-charge, topic: orders.created, retry: {max_attempts: 0}}\n"
    )
    assert problems_of(text) == [
        "subscriptions[1] (billing-charge).retry.max_attempts: 0 is less than the minimum of 1"
    ]


@pytest.mark.parametrize(
    ("retry", "problem"),
    [
        ("{max_attempts: 101}", "retry.max_attempts: 101 is greater than the maximum of 100"),
        ("{max_attempts: three}", "retry.max_attempts: 'three' is not of type 'integer'"),
        ("{initial_delay: -1}", "retry.initial_delay: -1 is less than the minimum of 0"),
        ("{multiplier: 0.5}", "retry.multiplier: 0.5 is less than the minimum of 1"),
        ("{jitter: 1.5}", "retry.jitter: 1.5 is greater than the maximum of 1"),
        ("{max_delay: -2}", "retry.max_delay: -2 is less than the minimum of 0"),
    ],
)
def test_bad_retry_values_name_entry_and_field(retry: str, problem: str) -> None:
    text = ONE_TOPIC + f"subscriptions: [{{name: inventory-reserve, topic: orders.created, retry: {retry}}}]\n"
    assert problems_of(text) == [f"subscriptions[0] (inventory-reserve).{problem}"]


def test_bad_batch_size_names_entry_and_field() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: inventory-reserve, topic: orders.created, batch_size: 0}]\n"
    assert problems_of(text) == ["subscriptions[0] (inventory-reserve).batch_size: 0 is less than the minimum of 1"]


def test_max_delay_below_initial_delay_names_entry_and_field() -> None:
    text = ONE_TOPIC + (
        "subscriptions: [{name: inventory-reserve, topic: orders.created, retry: {initial_delay: 10, max_delay: 5}}]\n"
    )
    assert problems_of(text) == [
        "subscriptions[0] (inventory-reserve).retry.max_delay: must not be below initial_delay"
    ]


def test_unknown_topic_reference_names_entry_and_field() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: inventory-reserve, topic: orders.shipped}]\n"
    assert problems_of(text) == [
        "subscriptions[0] (inventory-reserve).topic: unknown topic 'orders.shipped'; declare it under 'topics'"
    ]


def test_unregistered_handler_names_entry_and_field() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: inventory-reserve, topic: orders.created, handler: nope}]\n"
    assert problems_of(text) == [
        f"subscriptions[0] (inventory-reserve).handler: no consumer registered as 'nope' (registered: {REGISTERED})"
    ]


def test_default_handler_is_the_subscription_name_and_must_be_registered() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: shipping-notify, topic: orders.created}]\n"
    assert problems_of(text) == [
        "subscriptions[0] (shipping-notify).handler: no consumer registered as 'shipping-notify' "
        f"(registered: {REGISTERED})"
    ]


def test_webhook_without_url_names_entry_and_field(webhook_secrets: str) -> None:
    text = ONE_TOPIC + (
        "subscriptions:\n"
        "  - {name: audit-hook, topic: orders.created, consumer: webhook, secrets_env: AUDIT_WEBHOOK_SECRETS}\n"
    )
    assert problems_of(text) == ["subscriptions[0] (audit-hook).url: a webhook subscription needs a url"]


def test_webhook_url_must_be_http() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: audit-hook, topic: orders.created, consumer: webhook, url: ftp://x}]\n"
    assert problems_of(text) == ["subscriptions[0] (audit-hook).url: 'ftp://x' does not match '^https?://'"]


def test_unknown_consumer_kind_names_entry_and_field() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: inventory-reserve, topic: orders.created, consumer: grpc}]\n"
    assert problems_of(text) == [
        "subscriptions[0] (inventory-reserve).consumer: 'grpc' is not one of ['python', 'webhook']"
    ]


def test_duplicate_names_are_reported_per_list() -> None:
    text = (
        "topics: [{name: orders.created}, {name: orders.created}]\n"
        "subscriptions:\n"
        "  - {name: inventory-reserve, topic: orders.created}\n"
        "  - {name: inventory-reserve, topic: orders.created}\n"
    )
    assert problems_of(text) == [
        "topics: 'orders.created' is declared twice",
        "subscriptions: 'inventory-reserve' is declared twice",
    ]


def test_not_yaml_names_the_source() -> None:
    with pytest.raises(TopologyError) as info:
        topology_parse("topics: [a\n b: }", source="config/topology.yaml")
    [problem] = info.value.problems
    assert problem.startswith("config/topology.yaml: not valid YAML: ")
    assert "line 2, column 3" in problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "(top level): None is not of type 'object'"),
        ("- a\n", "(top level): ['a'] is not of type 'object'"),
        ("subscriptions: []\n", "(top level): 'topics' is a required property"),
        ("topics: orders.created\n", "topics: 'orders.created' is not of type 'array'"),
    ],
)
def test_document_of_the_wrong_shape_is_refused(text: str, problem: str) -> None:
    assert problems_of(text) == [problem]


def test_unknown_fields_name_entry_and_field() -> None:
    text = (
        "topics: [{name: orders.created, colour: red}]\n"
        "subscriptions:\n"
        "  - {name: inventory-reserve, topic: orders.created, retries: 3, retry: {attempts: 2}}\n"
        "owner: team-a\n"
    )
    assert problems_of(text) == [
        "(top level): Additional properties are not allowed ('owner' was unexpected)",
        "subscriptions[0] (inventory-reserve): Additional properties are not allowed ('retries' was unexpected)",
        "subscriptions[0] (inventory-reserve).retry: Additional properties are not allowed ('attempts' was unexpected)",
        "topics[0] (orders.created): Additional properties are not allowed ('colour' was unexpected)",
    ]


def test_missing_required_field_names_the_entry() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: inventory-reserve}]\n"
    assert problems_of(text) == ["subscriptions[0] (inventory-reserve): 'topic' is a required property"]


def test_invalid_name_names_entry_and_field() -> None:
    assert problems_of("topics: [{name: Orders}]\n") == [
        "topics[0] (Orders).name: 'Orders' does not match '^[a-z0-9][a-z0-9._-]{0,99}$'"
    ]


def test_filter_policy_that_is_not_an_object_names_entry_and_field() -> None:
    text = ONE_TOPIC + "subscriptions: [{name: inventory-reserve, topic: orders.created, filter_policy: [eu]}]\n"
    assert problems_of(text) == ["subscriptions[0] (inventory-reserve).filter_policy: ['eu'] is not of type 'object'"]


def test_invalid_filter_policy_names_entry_field_and_policy_path() -> None:
    policy = {"region": [{"prefix": 5}]}
    with pytest.raises(FilterPolicyError) as info:
        validate_filter_policy(policy)
    assert info.value.path == "region[0].prefix"

    text = ONE_TOPIC + (
        "subscriptions: [{name: inventory-reserve, topic: orders.created, filter_policy: {region: [{prefix: 5}]}}]\n"
    )
    assert problems_of(text) == [
        f"subscriptions[0] (inventory-reserve).filter_policy.region[0].prefix: {info.value.message}"
    ]


def test_filter_policy_error_about_the_whole_policy_names_the_field() -> None:
    values = ", ".join(str(n) for n in range(151))
    policy = {"region": list(range(151))}
    with pytest.raises(FilterPolicyError) as info:
        validate_filter_policy(policy)
    assert info.value.path == ""

    text = ONE_TOPIC + (
        f"subscriptions: [{{name: inventory-reserve, topic: orders.created, filter_policy: {{region: [{values}]}}}}]\n"
    )
    assert problems_of(text) == [f"subscriptions[0] (inventory-reserve).filter_policy: {info.value.message}"]


def test_every_reference_problem_is_reported_at_once(webhook_secrets: str) -> None:
    text = (
        "topics: [{name: orders.created}]\n"
        "subscriptions:\n"
        "  - {name: inventory-reserve, topic: orders.shipped}\n"
        "  - {name: audit-hook, topic: orders.created, consumer: webhook, secrets_env: AUDIT_WEBHOOK_SECRETS}\n"
        "  - {name: billing-charge, topic: orders.created, handler: nope, retry: {initial_delay: 400}}\n"
    )
    assert problems_of(text) == [
        "subscriptions[0] (inventory-reserve).topic: unknown topic 'orders.shipped'; declare it under 'topics'",
        "subscriptions[1] (audit-hook).url: a webhook subscription needs a url",
        f"subscriptions[2] (billing-charge).handler: no consumer registered as 'nope' (registered: {REGISTERED})",
        "subscriptions[2] (billing-charge).retry.max_delay: must not be below initial_delay",
    ]


def test_read_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(TopologyError) as info:
        topology_read(path)
    assert info.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_read_names_the_file_in_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text("topics: [\n")
    with pytest.raises(TopologyError) as info:
        topology_read(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: not valid YAML: ")


def test_a_topic_may_keep_its_finished_messages_for_its_own_number_of_days() -> None:
    spec = topology_parse("topics:\n  - {name: clicks, retention_days: 2}\n  - {name: orders}\n")

    assert [(t.name, t.retention_days) for t in spec.topics] == [("clicks", 2), ("orders", None)]
    with pytest.raises(TopologyError) as info:
        topology_parse("topics:\n  - {name: clicks, retention_days: 0}\n")
    assert info.value.problems == ["topics[0] (clicks).retention_days: 0 is less than the minimum of 1"]
