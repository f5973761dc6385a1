from django.contrib import admin

from apps.delivery.models import Delivery, DeliveryAttempt


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["attempt", "started_at", "duration_ms", "outcome", "status_code", "error", "response_body"]
    readonly_fields = ["attempt", "started_at", "duration_ms", "outcome", "status_code", "error", "response_body"]
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


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    """Every try of every delivery, newest first: Python handlers' and webhooks'."""

    list_display = ["id", "delivery", "subscription", "attempt", "started_at", "duration_ms", "outcome", "status_code"]
    list_filter = ["outcome", "delivery__subscription"]
    search_fields = ["=delivery__message__id", "error"]
    list_select_related = ["delivery__subscription"]
    ordering = ["-started_at", "-id"]
    readonly_fields = [
        "delivery",
        "attempt",
        "started_at",
        "duration_ms",
        "outcome",
        "status_code",
        "error",
        "response_body",
    ]
    show_full_result_count = False

    @admin.display(description="subscription", ordering="delivery__subscription__name")
    def subscription(self, attempt: DeliveryAttempt) -> str:
        return attempt.delivery.subscription.name

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
