"""Tests for apps.core.api.problems: every API error as RFC 9457 problem details."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions

from apps.core.api.problems import PROBLEM_CONTENT_TYPE, problem, problem_exception_handler, problem_response

TYPE = "https://switchboard.dev/problems/"


def test_problem_builds_the_rfc_9457_members_and_extras() -> None:
    body = problem(status_code=409, title="Conflict", detail="It clashes.", code="conflict", errors={"a": ["b"]})
    assert body == {
        "type": TYPE + "conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "It clashes.",
        "errors": {"a": ["b"]},
    }


def test_problem_response_uses_status_and_problem_content_type() -> None:
    response = problem_response(problem(status_code=404, title="Not found", detail="Gone.", code="not-found"))
    assert response.status_code == 404
    assert response.content_type == PROBLEM_CONTENT_TYPE == "application/problem+json"


def test_validation_error_with_fields_lists_them_under_errors() -> None:
    exc = exceptions.ValidationError({"payload": ["This field is required."], "key": ["Too long."]})
    response = problem_exception_handler(exc, {})
    assert response is not None
    assert response.status_code == 400
    assert response.content_type == PROBLEM_CONTENT_TYPE
    assert response.data == {
        "type": TYPE + "invalid",
        "title": "Invalid input",
        "status": 400,
        "detail": "payload: This field is required.; key: Too long.",
        "errors": {"payload": ["This field is required."], "key": ["Too long."]},
    }


def test_validation_error_with_a_message_lists_it_under_errors() -> None:
    response = problem_exception_handler(exceptions.ValidationError("Bad thing."), {})
    assert response is not None
    assert response.data == {
        "type": TYPE + "invalid",
        "title": "Invalid input",
        "status": 400,
        "detail": "Bad thing.",
        "errors": ["Bad thing."],
    }


def test_parse_error_takes_its_code_from_the_exception() -> None:
    response = problem_exception_handler(exceptions.ParseError("The request body is not valid JSON."), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data == {
        "type": TYPE + "parse-error",
        "title": "Malformed request",
        "status": 400,
        "detail": "The request body is not valid JSON.",
    }


def test_not_authenticated_is_401_with_a_bearer_challenge() -> None:
    response = problem_exception_handler(exceptions.NotAuthenticated(), {})
    assert response is not None
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="switchboard"'
    assert response.data == {
        "type": TYPE + "not-authenticated",
        "title": "Authentication credentials were not provided",
        "status": 401,
        "detail": "Authentication credentials were not provided.",
    }


def test_authentication_failed_is_401_and_keeps_the_views_challenge() -> None:
    exc = exceptions.AuthenticationFailed("Unknown or revoked API key.")
    exc.auth_header = 'Bearer realm="elsewhere"'  # type: ignore[attr-defined]  # set by APIView.handle_exception
    response = problem_exception_handler(exc, {})
    assert response is not None
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="elsewhere"'
    assert response.data == {
        "type": TYPE + "authentication-failed",
        "title": "Incorrect authentication credentials",
        "status": 401,
        "detail": "Unknown or revoked API key.",
    }


def test_django_http404_becomes_not_found() -> None:
    response = problem_exception_handler(Http404("No message 42."), {})
    assert response is not None
    assert response.status_code == 404
    assert response.data == {
        "type": TYPE + "not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No message 42.",
    }


def test_django_http404_without_text_says_not_found() -> None:
    response = problem_exception_handler(Http404(), {})
    assert response is not None
    assert response.data["detail"] == "Not found."


def test_django_permission_denied_becomes_403() -> None:
    response = problem_exception_handler(PermissionDenied(), {})
    assert response is not None
    assert response.status_code == 403
    assert response.data == {
        "type": TYPE + "permission-denied",
        "title": "You do not have permission to perform this action",
        "status": 403,
        "detail": "You do not have permission to perform this action.",
    }


def test_throttled_sets_retry_after_in_whole_seconds_rounded_up() -> None:
    response = problem_exception_handler(exceptions.Throttled(wait=12.4), {})
    assert response is not None
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "13"
    assert response.data["type"] == TYPE + "throttled"
    assert response.data["status"] == 429


def test_method_not_allowed_title_is_the_same_for_every_occurrence() -> None:
    # RFC 9457 3.1.4: the title SHOULD NOT change from occurrence to occurrence; the
    # detail names the occurrence. DRF's default_detail here is a template.
    get = problem_exception_handler(exceptions.MethodNotAllowed("GET"), {})
    delete = problem_exception_handler(exceptions.MethodNotAllowed("DELETE"), {})
    assert get is not None and delete is not None
    assert get.status_code == 405
    assert get.data["type"] == TYPE + "method-not-allowed"
    assert get.data["detail"] == 'Method "GET" not allowed.'
    assert get.data["title"] == delete.data["title"]
    assert "{" not in get.data["title"]


def test_unsupported_media_type_title_has_no_template_placeholder() -> None:
    response = problem_exception_handler(exceptions.UnsupportedMediaType("text/plain"), {})
    assert response is not None
    assert response.status_code == 415
    assert response.data["detail"] == 'Unsupported media type "text/plain" in request.'
    assert "{" not in response.data["title"]


def test_other_exceptions_are_left_to_django() -> None:
    assert problem_exception_handler(ValueError("boom"), {}) is None
    assert problem_exception_handler(KeyError("x"), {}) is None


def test_a_switchboard_error_is_rendered_from_its_status_code_title_and_fields() -> None:
    from apps.core.errors import SwitchboardError

    class SlowDownError(SwitchboardError):
        status = 429
        code = "slow-down"
        title = "Slow down"

        def problem_fields(self) -> dict[str, object]:
            return {"limit": 10}

        def problem_headers(self) -> dict[str, str]:
            return {"Retry-After": "3"}

    response = problem_exception_handler(SlowDownError("Ten a second at most."), {})
    assert response is not None
    assert (response.status_code, response.content_type, response["Retry-After"]) == (429, PROBLEM_CONTENT_TYPE, "3")
    assert response.data == {
        "type": TYPE + "slow-down",
        "title": "Slow down",
        "status": 429,
        "detail": "Ten a second at most.",
        "limit": 10,
    }
