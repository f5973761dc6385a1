"""RFC 9457 problem details for every error the API returns."""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.core.errors import SwitchboardError, errors_text

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://switchboard.dev/problems/"


def problem(*, status_code: int, title: str, detail: str, code: str, **extra: Any) -> dict[str, Any]:
    """Return a problem-details body."""
    return {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status_code, "detail": detail, **extra}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_body(exc: SwitchboardError) -> dict[str, Any]:
    """Return the problem-details body of a Switchboard error (the handler's, and a batch item's)."""
    return problem(status_code=exc.status, title=exc.title, detail=str(exc), code=exc.code, **exc.problem_fields())


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render Switchboard's, DRF's and Django's exceptions as problem details; leave others to Django (500)."""
    if isinstance(exc, SwitchboardError):
        set_rollback()
        return problem_response(problem_body(exc), exc.problem_headers() or None)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        exc.status_code = status.HTTP_401_UNAUTHORIZED
        headers.setdefault("WWW-Authenticate", 'Bearer realm="switchboard"')
    code = exc.get_codes() if isinstance(exc.detail, str) else exc.default_code
    body = problem(
        status_code=exc.status_code,
        title=_title(exc),
        detail=errors_text(exc.detail),
        code=str(code).replace("_", "-"),
    )
    if isinstance(exc.detail, dict | list):
        body["errors"] = exc.detail
    set_rollback()
    return problem_response(body, headers)


def _title(exc: exceptions.APIException) -> str:
    """Name the problem the same for every occurrence (RFC 9457): DRF's fixed text, else the status."""
    default = str(exc.default_detail or "")
    if not default or "{" in default:
        return HTTPStatus(exc.status_code).phrase
    return default.rstrip(".")
