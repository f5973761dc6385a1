from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts import audit
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


class AuditedAdmin(admin.ModelAdmin):
    """Adding, changing and deleting in the admin is recorded in the audit log, in the change's transaction."""

    audit_kind: str  # "topic" or "subscription": the actions are <kind>.create, .update, .delete

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        targets = {self.audit_kind: obj.name, "fields": list(form.changed_data)}
        audit.record(
            Actor.from_admin(request), f"{self.audit_kind}.{'update' if change else 'create'}", objects=targets, count=1
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit.record(
                Actor.from_admin(request), f"{self.audit_kind}.delete", objects={self.audit_kind: obj.name}, count=1
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            names = list(queryset.values_list("name", flat=True))
            audit.record(
                Actor.from_admin(request), f"{self.audit_kind}.delete", objects={"names": names}, count=len(names)
            )
            super().delete_queryset(request, queryset)


@admin.register(Topic)
class TopicAdmin(AuditedAdmin):
    audit_kind = "topic"
    form = TopicForm
    list_display = ["name", "description", "updated_at", "send_test_message"]
    search_fields = ["name"]
    inlines = [SubscriptionInline]

    @admin.display(description="test")
    def send_test_message(self, topic: Topic) -> str:
        url = reverse("admin:publishing_message_send_test_message")
        return format_html('<a href="{}?topic={}">Send test message</a>', url, topic.name)


@admin.register(Subscription)
class SubscriptionAdmin(AuditedAdmin):
    audit_kind = "subscription"
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
