from django.contrib import admin

from apps.accounts.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "secret_hash", "created_at"]
    fields = ["name", "prefix", "secret_hash", "created_at", "revoked_at"]

    def has_add_permission(self, request: object) -> bool:
        # A key's secret is shown once at creation: create keys with `manage.py api_key_create`.
        return False
