from django.urls import path

from apps.topology.api import views

urlpatterns = [
    path("topics", views.TopicListView.as_view(), name="topic-list"),
    path("topics/<str:name>", views.TopicDetailView.as_view(), name="topic-detail"),
    path("topology/export", views.TopologyExportView.as_view(), name="topology-export"),
    path("subscriptions", views.SubscriptionListView.as_view(), name="subscription-list"),
    path("subscriptions/<str:name>", views.SubscriptionDetailView.as_view(), name="subscription-detail"),
    path("subscriptions/<str:name>/pause", views.SubscriptionPauseView.as_view(), name="subscription-pause"),
    path("subscriptions/<str:name>/resume", views.SubscriptionResumeView.as_view(), name="subscription-resume"),
    path("subscriptions/<str:name>/stats", views.SubscriptionStatisticsView.as_view(), name="subscription-stats"),
]
