from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

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
    list_display = ["name", "description", "updated_at", "send_test_message"]
    search_fields = ["name"]
    inlines = [SubscriptionInline]

    @admin.display(description="test")
    def send_test_message(self, topic: Topic) -> str:
        url = reverse("admin:publishing_message_send_test_message")
        return format_html('<a href="{}?topic={}">Send test message</a>', url, topic.name)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "topic", "consumer_kind", "handler", "max_attempts", "batch_size", "paused", "see"]
    readonly_fields = ["see"]
    list_filter = ["consumer_kind", "paused", "topic"]
    search_fields = ["name", "handler"]
    actions = ["pause", "resume"]

    @admin.display(description="see")
    def see(self, subscription: Subscription) -> str:
        """Link to the subscription's messages, dead letters and dashboard page."""
        if subscription.pk is None:
            return "-"
        messages = reverse("admin:publishing_message_changelist")
        dead_letters = reverse("admin:deadletters_deadletter_changelist")
        dashboard = reverse("dashboard-subscription", args=[subscription.name])
        return format_html(
            '<a href="{}?deliveries__subscription__id__exact={}">messages</a> · '
            '<a href="{}?subscription__id__exact={}">dead letters</a> · <a href="{}">dashboard</a>',
            messages,
            subscription.pk,
            dead_letters,
            subscription.pk,
            dashboard,
        )

    @admin.action(description="Pause selected subscriptions (messages wait in their queues)")
    def pause(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        confirmed = [services.subscription_pause(subscription=s, actor=Actor.from_admin(request)) for s in queryset]
        self.message_user(request, f"Paused {len(confirmed)} subscription(s); workers confirmed: {confirmed}.")

    @admin.action(description="Resume selected subscriptions")
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        confirmed = [services.subscription_resume(subscription=s, actor=Actor.from_admin(request)) for s in queryset]
        self.message_user(request, f"Resumed {len(confirmed)} subscription(s); workers confirmed: {confirmed}.")
