from django.urls import path

from apps.deadletters.api import views

urlpatterns = [
    path("dead-letters", views.DeadLetterListView.as_view(), name="dead-letter-list"),
    path("dead-letters/replay", views.DeadLetterReplayView.as_view(), name="dead-letter-replay"),
    path("dead-letters/<int:dead_letter_id>", views.DeadLetterDetailView.as_view(), name="dead-letter-detail"),
]
