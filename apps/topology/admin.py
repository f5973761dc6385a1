from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.audit import Actor
from apps.topology import services
from apps.topology.forms import SubscriptionForm, TopicForm
from apps.topology.models import Subscription, Topic


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    form = SubscriptionForm
    fields = ["name", "consumer_kind", "handler", "max_attempts", "batch_size", "paused"]
    extra = 0
    show_change_link = True


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = TopicForm
    list_display = ["name", "description", "updated_at"]
    search_fields = ["name"]
    inlines = [SubscriptionInline]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "topic", "consumer_kind", "handler", "max_attempts", "batch_size", "paused"]
    list_filter = ["consumer_kind", "paused", "topic"]
    search_fields = ["name", "handler"]
    actions = ["pause", "resume"]

    @admin.action(description="Pause selected subscriptions (messages wait in their queues)")
    def pause(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        confirmed = [services.subscription_pause(subscription=s, actor=Actor.from_admin(request)) for s in queryset]
        self.message_user(request, f"Paused {len(confirmed)} subscription(s); workers confirmed: {confirmed}.")

    @admin.action(description="Resume selected subscriptions")
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        confirmed = [services.subscription_resume(subscription=s, actor=Actor.from_admin(request)) for s in queryset]
        self.message_user(request, f"Resumed {len(confirmed)} subscription(s); workers confirmed: {confirmed}.")
