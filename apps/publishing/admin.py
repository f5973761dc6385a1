from django.contrib import admin

from apps.delivery.models import Delivery
from apps.publishing.models import Message


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["subscription", "state", "attempts", "updated_at"]
    readonly_fields = ["subscription", "state", "attempts", "updated_at"]
    extra = 0
    can_delete = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "topic", "key", "published_at"]
    list_filter = ["topic"]
    search_fields = ["id", "key"]
    readonly_fields = ["id", "topic", "payload", "attributes", "key", "published_at"]
    inlines = [DeliveryInline]

    def has_add_permission(self, request: object) -> bool:
        return False
