"""GET /metrics: Switchboard's figures for Prometheus, behind their own bearer token."""

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.monitoring import metrics


def metrics_access(request: HttpRequest) -> bool | None:
    """Say whether the request may read /metrics: True, False (wrong or no token), None (the endpoint is off).

    Open with SWITCHBOARD_METRICS_PUBLIC; else it needs `Authorization: Bearer
    <SWITCHBOARD_METRICS_TOKEN>`; without a token the endpoint does not exist.
    """
    if settings.SWITCHBOARD_METRICS_PUBLIC:
        return True
    token = settings.SWITCHBOARD_METRICS_TOKEN
    if not token:
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Render every figure in Prometheus's text exposition format, read now from Redis and the database."""
    access = metrics_access(request)
    if access is None:
        raise Http404("Metrics are off: set SWITCHBOARD_METRICS_TOKEN (or SWITCHBOARD_METRICS_PUBLIC=true).")
    if not access:
        response = HttpResponse("A valid metrics token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)


# Not an API-key view: the scraper shows the metrics token instead (see metrics_access).
metrics_view.required_scope = "read"  # type: ignore[attr-defined]
