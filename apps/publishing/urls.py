from django.urls import path

from apps.publishing.api import views

urlpatterns = [
    path("topics/<str:topic>/messages", views.TopicMessagesView.as_view(), name="topic-messages"),
    path("topics/<str:topic>/messages/batch", views.TopicMessagesBatchView.as_view(), name="topic-messages-batch"),
    path("messages", views.MessageListView.as_view(), name="message-list"),
    path("messages/<uuid:message_id>", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<uuid:message_id>/cancel", views.MessageCancelView.as_view(), name="message-cancel"),
]
