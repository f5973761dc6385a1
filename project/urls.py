"""URL map: the REST API under /api/v1/, the admin, probes, /metrics and API docs."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.views import ApiNotFoundView, healthz, readyz

api_v1: list[URLPattern | URLResolver] = [
    path("", include("apps.accounts.urls")),
    path("", include("apps.publishing.urls")),
    path("", include("apps.topology.urls")),
    path("", include("apps.deadletters.urls")),
    path("", include("apps.monitoring.api.urls")),
    re_path(r"^.*$", ApiNotFoundView.as_view()),
]

# The admin's "View site" link opens the monitoring dashboard.
admin.site.site_url = "/dashboard/"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", include("apps.monitoring.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="swagger-ui",
    ),
    path("admin/", admin.site.urls),
    path("dashboard/", include("apps.monitoring.dashboard_urls")),
    path("demo/", include("apps.demo.urls")),
]

# Under /api/ every error is problem details, also those Django answers itself.
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
