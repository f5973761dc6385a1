from django.contrib import admin

from apps.delivery.models import Delivery, DeliveryAttempt


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["attempt", "started_at", "duration_ms", "status_code", "error", "response_body"]
    readonly_fields = ["attempt", "started_at", "duration_ms", "status_code", "error", "response_body"]
    extra = 0
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "message", "subscription", "state", "attempts", "updated_at"]
    list_filter = ["state", "subscription"]
    readonly_fields = [
        "message",
        "subscription",
        "state",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "not_before",
        "updated_at",
        "finished_at",
        "replayed_from",
    ]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request: object) -> bool:
        return False
