from django.urls import path

from apps.demo import views

app_name = "demo"

urlpatterns = [
    path("receiver/", views.webhook_receiver, name="receiver"),
]
