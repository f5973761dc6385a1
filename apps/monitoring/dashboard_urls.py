from django.urls import path

from apps.monitoring import dashboard_views

urlpatterns = [
    path("", dashboard_views.dashboard, name="dashboard"),
    path("subscriptions/<str:name>/", dashboard_views.subscription_dashboard, name="dashboard-subscription"),
    path("series", dashboard_views.series, name="dashboard-series"),
    path("table", dashboard_views.table, name="dashboard-table"),
]
