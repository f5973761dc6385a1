"""API keys in the admin: create one (its secret is shown once, on the next page), list and revoke."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts import services
from apps.accounts.audit import Actor
from apps.accounts.models import ApiKey, AuditEvent
from apps.accounts.scopes import Scope
from apps.accounts.topics import topic_patterns_parse
from apps.core.errors import SwitchboardError


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s.value, s.value) for s in Scope], widget=forms.CheckboxSelectMultiple, required=True
    )
    topic_patterns = forms.CharField(
        required=False, help_text="Comma-separated topic globs, e.g. orders.*; empty: every topic."
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "topic_patterns", "expires_at"]

    def clean_topic_patterns(self) -> list[str]:
        try:
            return topic_patterns_parse(self.cleaned_data["topic_patterns"].split(","))
        except SwitchboardError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scopes", "topic_patterns", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "scopes", "topic_patterns", "created_at", "expires_at", "revoked_at"]
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.readonly_fields if obj is not None else ApiKeyCreateForm.Meta.fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        # Keys are made by the service only: it generates the secret and stores its hash.
        data = form.cleaned_data
        created, raw_key = services.api_key_create(
            name=data["name"],
            scopes=data["scopes"],
            topic_patterns=data["topic_patterns"],
            expires_at=data["expires_at"],
            actor=Actor.from_admin(request),
        )
        obj.pk = created.pk
        self.message_user(
            request,
            f"The API key {created.name!r} is {raw_key} — copy it now: it is never shown again.",
            messages.SUCCESS,
        )

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # narrow a key by revoking it and creating another

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key, actor=Actor.from_admin(request))
        self.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: rows are written only by apps.accounts.audit."""

    list_display = ["at", "actor_kind", "actor_name", "action", "count", "ip"]
    list_filter = ["action", "actor_kind"]
    search_fields = ["actor_name"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor_kind", "actor_name", "action", "targets", "count", "ip"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
