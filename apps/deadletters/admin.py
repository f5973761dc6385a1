"""Dead letters in the admin: list, filter, inspect; replay and purge through a confirmation page."""

import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.accounts.audit import Actor
from apps.core.errors import error_summary
from apps.deadletters import selectors, services
from apps.deadletters.models import DeadLetter
from apps.deadletters.selectors import ReplayOutcome

# What the replay confirmation page says about each outcome.
OUTCOME_TEXT = {
    ReplayOutcome.REPLAY: "will be replayed: the delivery starts again from attempt 1",
    ReplayOutcome.REROUTE: "are unroutable: their message is routed again through today's subscriptions",
    ReplayOutcome.IN_FLIGHT: "are skipped: their delivery is pending or retrying again",
    ReplayOutcome.DELIVERED: "are skipped: their delivery succeeded since",
    ReplayOutcome.SUPERSEDED: "are skipped: their delivery died again since (replay its newest dead letter)",
    ReplayOutcome.ALREADY_REROUTED: "are skipped: their unroutable message was replayed or routed before",
    ReplayOutcome.EXPIRED: "are skipped: their message's TTL has passed",
}
PREVIEW_ROWS = 20
DETAIL_FIELDS = (
    "message",
    "topic",
    "subscription",
    "delivery",
    "reason",
    "attempts",
    "created_at",
    "replayed_at",
    "replays_list",
    "last_error_pre",
    "payload_pre",
    "attributes_pre",
)


class ReplayedFilter(admin.SimpleListFilter):
    title = "replayed"
    parameter_name = "replayed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(replayed_at__isnull=self.value() == "no")
        return queryset


class ReplayForm(forms.Form):
    rate_per_second = forms.FloatField(
        initial=services.DEFAULT_REPLAY_RATE_PER_SECOND,
        min_value=0.001,
        max_value=services.MAX_REPLAY_RATE_PER_SECOND,
        label="Rate (deliveries per second)",
    )


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "topic",
        "subscription",
        "reason",
        "attempts",
        "message_id",
        "error",
        "replayed_at",
        "replay_state",
    ]
    list_filter = ["reason", ReplayedFilter, "topic", ("subscription", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["subscription"]
    date_hierarchy = "created_at"
    search_fields = ["topic", "last_error"]
    search_help_text = "A message id, or text in the topic or the error."
    actions = ["replay_selected", "purge_selected"]
    fields = DETAIL_FIELDS
    readonly_fields = DETAIL_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeadLetter]:
        return super().get_queryset(request).prefetch_related("replays")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Purge selected" goes through the service instead
        return actions

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter], search_term: str
    ) -> tuple[QuerySet[DeadLetter], bool]:
        try:
            message_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(Q(message_id=message_id)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Everything is read-only: offer no save buttons.
        extra = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def delete_model(self, request: HttpRequest, obj: DeadLetter) -> None:
        services.dead_letters_purge(dead_letters=[obj.pk], actor=Actor.from_admin(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        services.dead_letters_purge(dead_letters=queryset, actor=Actor.from_admin(request))

    @admin.display(description="error")
    def error(self, obj: DeadLetter) -> str:
        summary = error_summary(obj.last_error) or ""
        return summary if len(summary) <= 80 else summary[:79] + "…"

    @admin.display(description="replay")
    def replay_state(self, obj: DeadLetter) -> str:
        return ", ".join(f"{d.state} ({d.attempts})" for d in obj.replays.all()) or "-"

    @admin.display(description="replays")
    def replays_list(self, obj: DeadLetter) -> str:
        rows = obj.replays.select_related("subscription").order_by("pk")
        if not rows:
            return "-"
        return format_html_join(
            "\n",
            "<div>delivery {} to {}: {}, {} attempt(s)</div>",
            ((d.pk, d.subscription.name, d.state, d.attempts) for d in rows),
        )

    @admin.display(description="last error")
    def last_error_pre(self, obj: DeadLetter) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.last_error or "-")

    @admin.display(description="payload")
    def payload_pre(self, obj: DeadLetter) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    @admin.display(description="attributes")
    def attributes_pre(self, obj: DeadLetter) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.attributes, indent=2, ensure_ascii=False))

    @admin.action(description="Replay selected dead letters", permissions=["change"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse | None:
        form = ReplayForm(request.POST if request.POST.get("confirm") else None)
        if form.is_valid():
            report = services.dead_letters_replay(
                dead_letters=queryset,
                rate_per_second=form.cleaned_data["rate_per_second"],
                actor=Actor.from_admin(request),
            )
            skipped = sum(report.skipped.values())
            self.message_user(
                request,
                f"Replayed {report.replayed} dead letter(s) at up to {report.rate_per_second:g} per second; "
                f"rerouted {report.rerouted} unroutable message(s) ({report.still_unroutable} still unroutable); "
                f"skipped {skipped}.",
                messages.SUCCESS,
            )
            return None
        plan = selectors.dead_letters_replay_plan(dead_letters=queryset, now=timezone.now())
        context = {
            "title": "Replay dead letters",
            "form": form,
            "outcomes": [(plan[outcome], text) for outcome, text in OUTCOME_TEXT.items() if plan[outcome]],
            "replay_count": plan[ReplayOutcome.REPLAY],
            "default_rate": f"{services.DEFAULT_REPLAY_RATE_PER_SECOND:g}",
            "default_seconds": f"{plan[ReplayOutcome.REPLAY] / services.DEFAULT_REPLAY_RATE_PER_SECOND:.1f}",
        }
        return self._confirmation(request, queryset, "replay_selected", "replay_confirmation.html", context)

    @admin.action(description="Purge selected dead letters", permissions=["delete"])
    def purge_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse | None:
        if request.POST.get("confirm"):
            report = services.dead_letters_purge(dead_letters=queryset, actor=Actor.from_admin(request))
            self.message_user(request, f"Purged {report.purged} dead letter(s).", messages.SUCCESS)
            return None
        context = {"title": "Purge dead letters"}
        return self._confirmation(request, queryset, "purge_selected", "purge_confirmation.html", context)

    def _confirmation(
        self,
        request: HttpRequest,
        queryset: QuerySet[DeadLetter],
        action: str,
        template: str,
        context: dict[str, Any],
    ) -> TemplateResponse:
        """Render a confirmation page whose form posts the same selection back with confirm=yes.

        With "select all" (select_across) the selection is the changelist's filter, kept in
        the URL the form posts to; Django wants one checkbox value even then.
        """
        select_across = request.POST.get("select_across") == "1"
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        opts = self.model._meta
        return TemplateResponse(
            request,
            f"admin/{opts.app_label}/{opts.model_name}/{template}",
            {
                **self.admin_site.each_context(request),
                **context,
                "opts": opts,
                "action": action,
                "count": queryset.count(),
                "preview": list(queryset.select_related("subscription")[:PREVIEW_ROWS]),
                "select_across": select_across,
                "selected": selected[:1] if select_across else selected,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            },
        )
