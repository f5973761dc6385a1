"""Tests for apps.topology.validation, the one validator of the file, the admin and the API,
and for the admin forms that use it."""

import base64
from dataclasses import replace

import pytest
from django.test import Client

from apps.topology.models import Subscription, Topic
from apps.topology.specs import SubscriptionSpec, TopicSpec
from apps.topology.validation import Problem, subscription_problems, topic_problems, webhook_url_problem
from tests.factories import SubscriptionFactory, TopicFactory

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
PYTHON = SubscriptionSpec(name="inventory-reserve", topic="orders.created", handler="inventory-reserve")
WEBHOOK = SubscriptionSpec(
    name="audit-hook",
    topic="orders.created",
    consumer_kind="webhook",
    webhook_url="https://hooks.example.com/in",
    webhook_secrets=[SECRET],
)


def test_valid_subscriptions_and_topics_have_no_problems() -> None:
    assert subscription_problems(PYTHON) == []
    assert subscription_problems(WEBHOOK) == []
    assert topic_problems(TopicSpec(name="orders.created", unroutable="dead_letter")) == []


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"handler": "nope"}, [("handler", "no consumer registered as 'nope'")]),
        ({"name": "Bad Name"}, [("name", "'Bad Name' is not a valid name")]),
        ({"max_attempts": 0}, [("max_attempts", "0 is less than the minimum of 1")]),
        ({"max_attempts": 2.5}, [("max_attempts", "2.5 is not an integer")]),
        ({"batch_size": 1001}, [("batch_size", "1001 is greater than the maximum of 1000")]),
        ({"retry_multiplier": 0.5}, [("retry_multiplier", "0.5 is less than the minimum of 1")]),
        ({"retry_jitter": float("nan")}, [("retry_jitter", "nan is not a finite number")]),
        ({"retry_initial_delay": 10.0, "retry_max_delay": 5.0}, [("retry_max_delay", "must not be below")]),
        ({"webhook_url": "https://x.example/"}, [("webhook_url", "only a webhook subscription takes url")]),
        ({"consumer_kind": "grpc"}, [("consumer_kind", "'grpc' is not one of ['python', 'webhook']")]),
    ],
)
def test_each_bad_python_subscription_value_is_named(
    changes: dict[str, object], problems: list[tuple[str, str]]
) -> None:
    found = subscription_problems(replace(PYTHON, **changes))  # type: ignore[arg-type]
    assert [(p.field, p.message[: len(m)]) for p, (_, m) in zip(found, problems, strict=True)] == problems


def test_a_bad_filter_policy_names_the_part_at_fault() -> None:
    assert subscription_problems(replace(PYTHON, filter_policy={"region": [{"prefix": 5}]})) == [
        Problem("filter_policy", "expected a string, not number", path="region[0].prefix")
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/in", None),
        ("ftp://hooks.example.com/", "'ftp://hooks.example.com/' is not a valid webhook URL"),
        ("https:///path", "'https:///path' is not a valid webhook URL"),
        ("http://10.0.0.8/hook", "webhooks must not be sent to 10.0.0.8: it is a private address"),
        ("http://169.254.169.254/latest", "webhooks must not be sent to 169.254.169.254: it is a cloud metadata"),
        ("http://[::ffff:192.168.0.1]/", "webhooks must not be sent to ::ffff:192.168.0.1: it is a private"),
        ("http://api.localhost/", "webhooks must not be sent to api.localhost: it is a loopback"),
        ("http://x.example:99999/", "'http://x.example:99999/' is not a valid URL"),
    ],
)
def test_webhook_urls_follow_the_ssrf_rules(url: str, problem: str | None, settings: object) -> None:
    settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS = []  # type: ignore[attr-defined]
    found = webhook_url_problem(url)
    assert (found if problem is None else (found or "")[: len(problem)]) == problem


def test_an_allowed_host_may_be_private(settings: object) -> None:
    settings.SWITCHBOARD_WEBHOOK_ALLOWED_HOSTS = ["10.0.0.8"]  # type: ignore[attr-defined]
    assert webhook_url_problem("http://10.0.0.8/hook") is None


def test_a_webhook_needs_a_url_and_valid_secrets() -> None:
    spec = replace(WEBHOOK, webhook_url="", webhook_secrets=[SECRET, "whsec_short"])
    assert subscription_problems(spec, secrets_source="HOOK_SECRETS") == [
        Problem("webhook_url", "a webhook subscription needs a url"),
        Problem(
            "webhook_secrets",
            "secret 2 in HOOK_SECRETS is malformed; expected whsec_ and the base64 of 24 to 64 random bytes",
        ),
    ]
    assert subscription_problems(replace(WEBHOOK, webhook_secrets=[])) == [
        Problem("webhook_secrets", "a webhook subscription needs at least one signing secret")
    ]


# --- the admin forms --------------------------------------------------------------


def subscription_form(topic: Topic, **changes: str) -> dict[str, str]:
    data = {
        "name": "inventory-reserve",
        "topic": str(topic.pk),
        "consumer_kind": "python",
        "handler": "inventory-reserve",
        "webhook_url": "",
        "webhook_secrets": "[]",
        "filter_policy": "{}",
        "max_attempts": "5",
        "retry_initial_delay": "1.0",
        "retry_multiplier": "2.0",
        "retry_max_delay": "300.0",
        "retry_jitter": "0.2",
        "batch_size": "1",
    }
    return {**data, **changes}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"filter_policy": '{"region": [{"prefix": 5}]}'}, "filter_policy", "region[0].prefix: expected a string"),
        ({"handler": "nope"}, "handler", "no consumer registered as &#x27;nope&#x27;"),
        ({"retry_initial_delay": "10", "retry_max_delay": "5"}, "retry_max_delay", "must not be below initial_delay"),
        (
            {"consumer_kind": "webhook", "handler": "", "webhook_url": "http://10.1.2.3/", "webhook_secrets": "[]"},
            "webhook_url",
            "webhooks must not be sent to 10.1.2.3: it is a private address",
        ),
    ],
)
def test_the_admin_refuses_an_invalid_subscription(
    admin_client: Client, changes: dict[str, str], field: str, error: str
) -> None:
    topic = TopicFactory.create(name="orders.created")

    response = admin_client.post("/admin/topology/subscription/add/", subscription_form(topic, **changes))

    assert response.status_code == 200  # the form again, with its errors
    assert error in str(response.context["adminform"].form.errors[field])
    assert Subscription.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_saves_a_valid_subscription_and_refuses_an_invalid_change(admin_client: Client) -> None:
    topic = TopicFactory.create(name="orders.created")
    response = admin_client.post("/admin/topology/subscription/add/", subscription_form(topic))
    assert response.status_code == 302
    subscription = Subscription.objects.get(name="inventory-reserve")

    response = admin_client.post(
        f"/admin/topology/subscription/{subscription.pk}/change/", subscription_form(topic, batch_size="0")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["batch_size"] == ["0 is less than the minimum of 1"]
    subscription.refresh_from_db()
    assert subscription.batch_size == 1


@pytest.mark.django_db
def test_the_admin_refuses_an_invalid_subscription_inline_under_its_topic(admin_client: Client) -> None:
    topic = TopicFactory.create(name="orders.created")
    SubscriptionFactory.create(name="billing-charge", topic=topic, handler="billing-charge")
    prefix = "subscriptions"
    existing = Subscription.objects.get(name="billing-charge")
    data = {
        "name": "orders.created",
        "description": "",
        "unroutable": "drop",
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-0-id": str(existing.pk),
        f"{prefix}-0-topic": str(topic.pk),
        f"{prefix}-0-name": "billing-charge",
        f"{prefix}-0-consumer_kind": "python",
        f"{prefix}-0-handler": "nope",
        f"{prefix}-0-max_attempts": "5",
        f"{prefix}-0-batch_size": "1",
    }

    response = admin_client.post(f"/admin/topology/topic/{topic.pk}/change/", data)

    assert response.status_code == 200
    [errors] = [f.errors for f in response.context["inline_admin_formsets"][0].formset.forms]
    assert str(errors["handler"][0]).startswith("no consumer registered as 'nope'")
    assert Subscription.objects.get(name="billing-charge").handler == "billing-charge"
