"""Probes and fallbacks that belong to no domain app."""

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import readiness


def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the web process runs (liveness; checks nothing else)."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database and a safely configured Redis are reachable, else 503 saying why."""
    problems = readiness.readiness_problems()
    if problems:
        return JsonResponse({"status": "not ready", "problems": problems}, status=503)
    return JsonResponse({"status": "ready"})


@extend_schema(exclude=True)
class ApiNotFoundView(APIView):
    """Answer any unknown API path with problem details instead of an HTML page."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def _not_found(self, request: Request, *args: object, **kwargs: object) -> Response:
        raise exceptions.NotFound(f"No API resource at {request.path}.")

    get = post = put = patch = delete = _not_found
