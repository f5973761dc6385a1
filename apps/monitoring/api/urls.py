from django.urls import path

from apps.monitoring.api import views

urlpatterns = [
    path("alerts", views.AlertRuleListView.as_view(), name="alert-rule-list"),
]
