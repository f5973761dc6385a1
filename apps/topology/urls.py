from django.urls import path

from apps.topology.api import views

urlpatterns = [
    path("subscriptions", views.SubscriptionListView.as_view(), name="subscription-list"),
    path("subscriptions/<str:name>", views.SubscriptionDetailView.as_view(), name="subscription-detail"),
    path("subscriptions/<str:name>/pause", views.SubscriptionPauseView.as_view(), name="subscription-pause"),
    path("subscriptions/<str:name>/resume", views.SubscriptionResumeView.as_view(), name="subscription-resume"),
]
