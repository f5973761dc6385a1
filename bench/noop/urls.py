from django.urls import path

from apps.core.views import healthz
from bench.noop.views import NoopPublishView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/topics/<str:topic>/noop", NoopPublishView.as_view(), name="noop-publish"),
]
