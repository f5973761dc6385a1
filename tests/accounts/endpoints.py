"""The API's URL map as a table: every DRF endpoint and method, with the scope it requires.

Walks Django's URL resolver, so an endpoint added anywhere appears here by itself; the
tests over this table then fail until the endpoint declares `required_scope`.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.views import APIView

from apps.accounts.scopes import view_required_scope
from apps.core.views import ApiNotFoundView

# Open on purpose: the schema, its docs, and the not-found fallback.
PUBLIC_VIEWS: set[type] = {SpectacularAPIView, SpectacularSwaggerView, ApiNotFoundView}
# A value for each URL keyword the API uses; an endpoint with a new one fails until it is named here.
SAMPLE_KWARGS: dict[str, Any] = {
    "topic": "orders.created",
    "name": "billing-charge",
    "message_id": uuid.UUID("01900000-0000-7000-8000-000000000000"),
    "dead_letter_id": 1,
}


@dataclass(frozen=True)
class Endpoint:
    url_name: str
    route: str
    view: type[APIView]
    method: str
    kwargs: tuple[str, ...]

    @property
    def required_scope(self) -> str | None:
        return view_required_scope(self.view, self.method)

    def path(self, **overrides: Any) -> str:
        return reverse(self.url_name, kwargs={name: overrides.get(name, SAMPLE_KWARGS[name]) for name in self.kwargs})

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


def _patterns(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def api_views() -> list[tuple[str, URLPattern, type[APIView]]]:
    """Every DRF view in the URL map with its route (public ones included)."""
    found = []
    for route, pattern in _patterns(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        if isinstance(view, type) and issubclass(view, APIView):
            found.append((route, pattern, view))
    return found


def api_endpoints() -> list[Endpoint]:
    """Every method of every non-public DRF view (HEAD and OPTIONS aside)."""
    endpoints = []
    for route, pattern, view in api_views():
        if view in PUBLIC_VIEWS:
            continue
        kwargs = tuple(pattern.pattern.converters)
        for method in view.http_method_names:
            if method not in {"head", "options"} and hasattr(view, method):
                assert pattern.name, f"{route} has no URL name"
                endpoints.append(Endpoint(pattern.name, route, view, method.upper(), kwargs))
    return endpoints
