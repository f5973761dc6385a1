from django.contrib import admin

from apps.delivery.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "message", "subscription", "state", "attempts", "updated_at"]
    list_filter = ["state", "subscription"]
    readonly_fields = ["message", "subscription", "state", "attempts", "last_error", "updated_at", "finished_at"]

    def has_add_permission(self, request: object) -> bool:
        return False
