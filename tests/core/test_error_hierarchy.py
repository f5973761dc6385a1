"""Every Switchboard error: its status, problem type and title, and how the API renders it.

The table below lists every subclass of SwitchboardError in `apps` and `project`, found
by importing every module of the installed apps. A new error fails here until it sets
its own `status`, `code` and `title` and has a row (an example and its exact answer).
"""

import importlib
import pkgutil
import re
import uuid
from typing import Any

import pytest
from django.apps import apps as django_apps

from apps.accounts.ratelimit import RateLimitedError
from apps.accounts.scopes import InvalidScopeError, MissingScopeError, UndeclaredScopeError
from apps.accounts.services import InvalidApiKeyError, InvalidDurationError, UnknownApiKeyError, WeakApiKeyError
from apps.accounts.topics import InvalidTopicPatternError, TopicNotVisibleError
from apps.core.api.parsers import RequestTooLargeError
from apps.core.api.problems import PROBLEM_CONTENT_TYPE, problem_body, problem_exception_handler
from apps.core.consumers import UnknownConsumerError
from apps.core.errors import PermanentError, RetryableError, SwitchboardError
from apps.core.json_input import UnacceptableJsonError
from apps.core.readiness import UnsafeRedisError
from apps.deadletters.selectors import InvalidFilterError, UnknownDeadLetterError
from apps.deadletters.services import InvalidReplayRateError
from apps.delivery.attempts import _AlreadyFinishedError
from apps.delivery.tasks import DeadLetteredError
from apps.delivery.transport import RefusedAddressError
from apps.demo.simulation import SimulationError
from apps.monitoring.alert_rules import AlertRulesError
from apps.publishing.errors import InvalidMessageError, PayloadTooLargeError, PublishError, UnknownTopicError
from apps.publishing.history import InvalidMessageFilterError
from apps.publishing.idempotency import IdempotencyKeyInFlightError, IdempotencyKeyReusedError
from apps.publishing.selectors import UnknownMessageError
from apps.topology.changes import InvalidSubscriptionError, InvalidTopicError, TopicInUseError, TopologyNameTakenError
from apps.topology.filter_policy import FilterPolicyError
from apps.topology.loader import TopologyError
from apps.topology.selectors import TopicNotFoundError, UnknownSubscriptionError
from apps.topology.services import TopologyPruneError
from project.celery import UnsafeTimeLimitsError

TYPE = "https://switchboard.dev/problems/"
MESSAGE_ID = uuid.UUID("01890000-0000-7000-8000-000000000000")

# (example, status, code, title, extra members of the body, headers)
ERRORS: list[tuple[SwitchboardError, int, str, str, dict[str, Any], dict[str, str]]] = [
    (SwitchboardError("Something broke."), 500, "internal-error", "Internal error", {}, {}),
    (PermanentError("Bad data."), 422, "permanent-error", "Permanent error", {}, {}),
    (RetryableError("Try later.", retry_after=5), 503, "retryable-error", "Retryable error", {}, {}),
    (
        RequestTooLargeError("The request body has 11 bytes; at most 10 are accepted."),
        413,
        "request-too-large",
        "The request body is larger than allowed",
        {},
        {},
    ),
    (
        MissingScopeError("purge"),
        403,
        "missing-scope",
        "The API key lacks the required scope",
        {"required_scope": "purge"},
        {},
    ),
    (
        UndeclaredScopeError("V declares no required_scope for GET."),
        403,
        "scope-not-declared",
        "The operation declares no scope",
        {},
        {},
    ),
    (
        WeakApiKeyError("expected sb_<prefix>_<secret>."),
        400,
        "weak-api-key",
        "The API key is malformed or guessable",
        {},
        {},
    ),
    (InvalidDurationError("'x' is not a duration."), 400, "invalid-duration", "Invalid duration", {}, {}),
    (UnknownApiKeyError("There is no API key named 'x'."), 404, "unknown-api-key", "Unknown API key", {}, {}),
    (
        RateLimitedError("This API key's publish rate limit (10/s) is used up.", retry_after=2),
        429,
        "rate-limited",
        "Too many requests",
        {},
        {"Retry-After": "2"},
    ),
    (InvalidScopeError("Unknown scope x."), 400, "invalid-scope", "Unknown scope", {}, {}),
    (InvalidTopicPatternError("Topic pattern 'A'."), 400, "invalid-topic-pattern", "Invalid topic pattern", {}, {}),
    (TopicNotVisibleError("orders.created"), 404, "unknown-topic", "Unknown topic", {}, {}),
    (
        UnacceptableJsonError("payload.a", "Nested deeper than 64 levels."),
        400,
        "unacceptable-json",
        "JSON value not accepted",
        {"errors": {"payload.a": ["Nested deeper than 64 levels."]}},
        {},
    ),
    (UnsafeRedisError("Refusing to start."), 503, "unsafe-redis", "Redis may lose messages", {}, {}),
    (DeadLetteredError("Dead-lettered: delivery 7."), 422, "delivery-dead-lettered", "Delivery dead-lettered", {}, {}),
    (
        InvalidApiKeyError("Unknown or revoked API key."),
        401,
        "authentication-failed",
        "Incorrect authentication credentials",
        {},
        {},
    ),
    (UnknownSubscriptionError("nope"), 404, "unknown-subscription", "Unknown subscription", {}, {}),
    (TopologyError(["a: bad", "b: worse"]), 400, "invalid-topology", "Invalid topology", {}, {}),
    (AlertRulesError(["rules[0] (r).above: bad"]), 400, "invalid-alert-rules", "Invalid alert rules", {}, {}),
    (TopologyPruneError("topic t has messages"), 409, "topology-prune-refused", "Topology prune refused", {}, {}),
    (TopicNotFoundError("nope"), 404, "unknown-topic", "Unknown topic", {}, {}),
    (
        InvalidMessageFilterError(errors={"state": ["Select a valid choice."]}),
        400,
        "invalid",
        "Invalid input",
        {"errors": {"state": ["Select a valid choice."]}},
        {},
    ),
    (
        InvalidTopicError(errors={"name": ["bad"]}),
        400,
        "invalid-topic",
        "Invalid topic",
        {"errors": {"name": ["bad"]}},
        {},
    ),
    (
        InvalidSubscriptionError(errors={"handler": ["no consumer"]}),
        400,
        "invalid-subscription",
        "Invalid subscription",
        {"errors": {"handler": ["no consumer"]}},
        {},
    ),
    (TopologyNameTakenError("A topic named 't' exists already."), 409, "name-taken", "Name taken", {}, {}),
    (TopicInUseError("Topic t still has messages."), 409, "topic-in-use", "Topic in use", {}, {}),
    (
        FilterPolicyError("expected at least one value", path="region"),
        400,
        "invalid-filter-policy",
        "Invalid filter policy",
        {},
        {},
    ),
    (UnknownConsumerError("No consumer 'x'."), 500, "unknown-consumer", "Unknown consumer", {}, {}),
    (RefusedAddressError("a private address"), 422, "refused-webhook-address", "Refused webhook address", {}, {}),
    (SimulationError("cannot reach the API"), 502, "simulation-failed", "Simulation failed", {}, {}),
    (_AlreadyFinishedError("finished"), 409, "delivery-already-finished", "Delivery already finished", {}, {}),
    (PublishError("Not published."), 400, "message-not-published", "Message not published", {}, {}),
    (UnknownTopicError("orders.shipped"), 404, "unknown-topic", "Unknown topic", {}, {}),
    (
        InvalidMessageError("The payload must not be null.", field="payload"),
        400,
        "invalid-message",
        "Invalid message",
        {"errors": {"payload": ["The payload must not be null."]}},
        {},
    ),
    (PayloadTooLargeError(22, 16), 413, "payload-too-large", "Payload too large", {}, {}),
    (IdempotencyKeyReusedError("Key 'k' reused."), 422, "idempotency-key-reused", "Idempotency key reused", {}, {}),
    (
        IdempotencyKeyInFlightError("Key 'k' in flight."),
        409,
        "idempotency-key-in-flight",
        "Idempotency key in flight",
        {},
        {"Retry-After": "1"},
    ),
    (UnknownMessageError(MESSAGE_ID), 404, "unknown-message", "Unknown message", {}, {}),
    (
        InvalidFilterError({"reason": ["Select a valid choice."]}),
        400,
        "invalid",
        "Invalid input",
        {"errors": {"reason": ["Select a valid choice."]}},
        {},
    ),
    (
        UnknownDeadLetterError("There is no dead letter with id 7."),
        404,
        "unknown-dead-letter",
        "Unknown dead letter",
        {},
        {},
    ),
    (InvalidReplayRateError("Rate 0."), 400, "invalid-replay-rate", "Invalid replay rate", {}, {}),
    (UnsafeTimeLimitsError("No hard limit."), 500, "unsafe-time-limits", "Unsafe task time limits", {}, {}),
]


def _import_every_module() -> None:
    """Import every module of the installed apps (not migrations) and the Celery app."""
    for config in django_apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        package = importlib.import_module(config.name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{config.name}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    importlib.import_module("project.celery")


def _subclasses(cls: type[SwitchboardError]) -> set[type[SwitchboardError]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_every_error_in_the_code_has_a_row() -> None:
    _import_every_module()
    in_code = {cls for cls in _subclasses(SwitchboardError) if cls.__module__.startswith(("apps.", "project."))}
    in_table = {type(example) for example, *_ in ERRORS}
    assert {cls.__qualname__ for cls in in_code - in_table} == set()
    assert {cls.__qualname__ for cls in in_table - in_code - {SwitchboardError}} == set()


@pytest.mark.parametrize(
    ("example", "status", "code", "title", "extra", "headers"), ERRORS, ids=[type(e[0]).__name__ for e in ERRORS]
)
def test_each_error_sets_its_own_status_code_and_title_and_renders_as_problem_details(
    example: SwitchboardError, status: int, code: str, title: str, extra: dict[str, Any], headers: dict[str, str]
) -> None:
    cls = type(example)
    assert cls.__name__.endswith("Error")
    assert {"status", "code", "title"} <= set(vars(cls)), "set status, code and title on the class itself"
    assert (cls.status, cls.code, cls.title) == (status, code, title)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code)
    assert title and not title.endswith(".")
    assert str(example)

    response = problem_exception_handler(example, {})

    assert response is not None
    assert (response.status_code, response.content_type) == (status, PROBLEM_CONTENT_TYPE)
    assert response.data == {"type": TYPE + code, "title": title, "status": status, "detail": str(example), **extra}
    assert response.data == problem_body(example)  # what a batch item answers
    assert {name: response[name] for name in headers} == headers
    assert "Retry-After" in headers or not response.has_header("Retry-After")
