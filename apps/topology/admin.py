from django.contrib import admin

from apps.topology.models import Subscription, Topic


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ["name", "consumer_kind", "handler", "max_attempts", "batch_size", "paused"]
    extra = 0
    show_change_link = True


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "updated_at"]
    search_fields = ["name"]
    inlines = [SubscriptionInline]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "topic", "consumer_kind", "handler", "max_attempts", "batch_size", "paused"]
    list_filter = ["consumer_kind", "paused", "topic"]
    search_fields = ["name", "handler"]
