"""Request guards that run before any view: chunked bodies, and NUL characters in API paths and queries."""

import io
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.api.problems import PROBLEM_CONTENT_TYPE, problem

API_PREFIX = "/api/"


def problem_json(*, status: int, title: str, detail: str, code: str) -> JsonResponse:
    """A problem-details answer outside DRF (middleware, Django's error handlers)."""
    body = problem(status_code=status, title=title, detail=detail, code=code)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


class RequestGuardMiddleware:
    """Read a chunked request body, and refuse NUL (U+0000) in an API request's path or query.

    Django reads CONTENT_LENGTH bytes of a body, so a chunked body (no Content-Length;
    gunicorn decodes the chunks) would read as empty: it is read here, up to
    DATA_UPLOAD_MAX_MEMORY_SIZE, and handed on with its length. PostgreSQL cannot store
    or compare NUL, so a name or filter holding one would fail in the database.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX) and _has_nul(request):
            return problem_json(
                status=400,
                title="Invalid input",
                detail="The path or query string contains the NUL character (U+0000).",
                code="invalid",
            )
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not request.META.get(
            "CONTENT_LENGTH"
        ):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = request.META["wsgi.input"].read(limit + 1) if "wsgi.input" in request.META else b""
            if len(body) > limit:
                return problem_json(
                    status=413,
                    title="The request body is larger than allowed",
                    detail=f"The request body has more than {limit} bytes.",
                    code="request-too-large",
                )
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any("\x00" in name or any("\x00" in v for v in values) for name, values in request.GET.lists())
