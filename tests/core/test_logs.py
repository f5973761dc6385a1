"""Log lines: one per 4xx without a traceback, readiness at WARNING, JSON lines with the delivery context."""

import logging
import sys

import orjson
import pytest
from django.test import Client

from apps.core import readiness
from apps.core.logs import ClientErrorFilter, ContextFilter, JsonFormatter, log_context


def record(name: str, level: int, message: str, *, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord(name, level, __file__, 1, message, (), exc_info)
    made.__dict__.update(extra)
    return made


def test_a_json_line_carries_the_delivery_context_and_the_traceback() -> None:
    line = record("apps.delivery.attempts", logging.INFO, "Delivery 7 attempt 1 failed", exc=True)
    with log_context(delivery_id=7, message_id="0190", subscription="billing"):
        ContextFilter().filter(line)

    parsed = orjson.loads(JsonFormatter().format(line))

    assert {k: parsed[k] for k in ("level", "logger", "message", "message_id", "subscription", "delivery_id")} == {
        "level": "INFO",
        "logger": "apps.delivery.attempts",
        "message": "Delivery 7 attempt 1 failed",
        "message_id": "0190",
        "subscription": "billing",
        "delivery_id": 7,
    }
    assert parsed["exception"].splitlines()[-1] == "ValueError: boom"


def test_outside_a_context_a_line_has_no_delivery_fields() -> None:
    line = record("apps.delivery.relay", logging.INFO, "Relay running")
    ContextFilter().filter(line)

    assert set(orjson.loads(JsonFormatter().format(line))) == {"time", "level", "logger", "message"}


def test_a_4xx_keeps_one_line_without_its_traceback_and_a_5xx_keeps_it() -> None:
    client_error = record("django.request", logging.WARNING, "Bad Request: /x", exc=True, status_code=400)
    server_error = record("django.request", logging.ERROR, "Internal Server Error: /x", exc=True, status_code=500)

    assert ClientErrorFilter().filter(client_error) and ClientErrorFilter().filter(server_error)
    assert (client_error.exc_info, server_error.exc_info is not None) == (None, True)


def test_a_suspicious_request_is_one_warning_line_instead_of_two() -> None:
    class Request:
        pass

    request = Request()
    security = record("django.security.DisallowedHost", logging.ERROR, "Invalid HTTP_HOST", exc=True, request=request)
    bad_request = record("django.request", logging.WARNING, "Bad Request: /", status_code=400, request=request)

    kept = [ClientErrorFilter().filter(security), ClientErrorFilter().filter(bad_request)]

    assert kept == [True, False]
    assert (security.levelname, security.exc_info) == ("WARNING", None)


@pytest.mark.django_db
def test_an_api_4xx_logs_one_warning_line(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/messages/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")

    assert response.status_code == 401
    assert [(r.name, r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("django.request", "WARNING", "Unauthorized: /api/v1/messages/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", None)
    ]


@pytest.mark.django_db
def test_a_readiness_failure_is_one_warning_line(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readiness, "readiness_problems", lambda: ["Redis unreachable: refused"])
    with caplog.at_level(logging.INFO):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("apps.core.views", "WARNING", "Not ready: Redis unreachable: refused")
    ]
