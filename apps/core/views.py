"""Probes and fallbacks that belong to no domain app."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import readiness
from apps.core.middleware import API_PREFIX, problem_json

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the web process runs (liveness; checks nothing else)."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database and a safely configured Redis are reachable, else 503 saying why.

    Not being ready is a state a probe reports, not a server error: one WARNING line says
    why, instead of Django's ERROR line for a 503.
    """
    problems = readiness.readiness_problems()
    if problems:
        logger.warning("Not ready: %s", "; ".join(problems))
        response = JsonResponse({"status": "not ready", "problems": problems}, status=503)
        response._has_been_logged = True  # type: ignore[attr-defined] # Django's mark: logged already
        return response
    return JsonResponse({"status": "ready"})


@extend_schema(exclude=True)
class ApiNotFoundView(APIView):
    """Answer any unknown API path with problem details instead of an HTML page."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def _not_found(self, request: Request, *args: object, **kwargs: object) -> Response:
        raise exceptions.NotFound(f"No API resource at {request.path}.")

    get = post = put = patch = delete = _not_found


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler: problem details under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return problem_json(
            status=404, title="Not found", detail=f"No API resource at {request.path}.", code="not-found"
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: problem details under /api/ (even in production, without details), a page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return problem_json(
            status=500, title="Internal Server Error", detail="The server failed; it has been logged.", code="error"
        )
    return defaults.server_error(request)
