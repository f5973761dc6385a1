"""Published messages, as accepted from publishers."""

from django.db import models

from apps.core.ids import uuid7


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    topic = models.ForeignKey("topology.Topic", on_delete=models.PROTECT, related_name="messages")
    payload = models.JSONField()
    attributes = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["-published_at"]
        indexes = [models.Index(fields=["topic", "published_at"])]

    def __str__(self) -> str:
        return f"{self.topic_id}:{self.id}"
