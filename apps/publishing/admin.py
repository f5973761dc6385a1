"""The admin of messages: searchable, with their deliveries inline, and a form to send a test message."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from apps.core.errors import SwitchboardError, error_summary
from apps.delivery.models import Delivery
from apps.publishing import services
from apps.publishing.forms import TestMessageForm
from apps.publishing.models import Message


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("delivery", "subscription", "state", "attempts", "sent_at", "not_before", "finished_at", "attempt_log")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).select_related("subscription").prefetch_related("attempt_log")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="delivery")
    def delivery(self, delivery: Delivery) -> str:
        url = reverse("admin:delivery_delivery_change", args=[delivery.pk])
        return format_html('<a href="{}">{}</a>', url, delivery.pk)

    @admin.display(description="attempts (start, ms, outcome, error)")
    def attempt_log(self, delivery: Delivery) -> str:
        rows = [
            (
                a.attempt,
                a.started_at.isoformat(timespec="milliseconds"),
                a.duration_ms,
                a.outcome,
                error_summary(a.error) or "",
            )
            for a in delivery.attempt_log.all()
        ]
        return format_html_join("\n", "<div>#{} {} {} ms {} {}</div>", rows) or "-"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "topic", "key", "published_at", "deliver_at", "expires_at"]
    list_filter = ["topic", "deliveries__subscription", "deliveries__state"]
    # `=id` finds one message by its id; the key, the topic's name and the attributes' text by a part.
    search_fields = ["=id", "key", "topic__name", "attributes"]
    date_hierarchy = "published_at"
    readonly_fields = ["id", "topic", "payload", "attributes", "key", "published_at", "deliver_at", "expires_at"]
    inlines = [DeliveryInline]
    show_full_result_count = False  # no COUNT(*) of a table of millions on every page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        send = path(
            "send-test-message/",
            self.admin_site.admin_view(self.send_test_message),
            name="publishing_message_send_test_message",
        )
        return [send, *super().get_urls()]

    def send_test_message(self, request: HttpRequest) -> HttpResponse:
        """Publish a message typed into a form, through publish(), and show it.

        Staff need the "add message" permission (superusers have it): the admin's own add
        form stays off, since a message is only ever made by publish().
        """
        if not request.user.has_perm("publishing.add_message"):
            raise PermissionDenied
        form = TestMessageForm(request.POST or None, initial={"topic": request.GET.get("topic")})
        if request.method == "POST" and form.is_valid():
            try:
                message = services.publish(
                    topic=form.cleaned_data["topic"].name,
                    payload=form.cleaned_data["payload"],
                    attributes=form.cleaned_data["attributes"],
                    key=form.cleaned_data["key"] or None,
                )
            except SwitchboardError as exc:
                form.add_error(None, str(exc))
            else:
                routed = message.deliveries.count()
                self.message_user(
                    request,
                    f"Published {message.pk} to {message.topic.name}: {routed} delivery(ies).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:publishing_message_change", args=[message.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form}
        return TemplateResponse(request, "admin/publishing/message/send_test_message.html", context)
