from django.contrib import admin

from apps.deadletters.models import DeadLetter


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ["created_at", "topic", "subscription", "reason", "attempts", "message_id", "replayed_at"]
    list_filter = ["reason", "topic", "subscription"]
    search_fields = ["message__id", "last_error"]
    readonly_fields = [f.name for f in DeadLetter._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
