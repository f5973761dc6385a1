"""Describe API-key authentication and each operation's scope in the OpenAPI schema."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from apps.accounts.scopes import view_required_scope


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sb_<prefix>_<secret>"}


class ScopedAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the scope of each operation in `x-required-scope` and its description."""

    def _required_scope(self) -> str | None:
        return view_required_scope(self.view, self.method)

    def get_description(self) -> str:  # type: ignore[override]
        description = super().get_description() or ""
        scope = self._required_scope()
        if scope is None:
            return description
        requirement = f"Requires an API key with the `{scope}` scope (or `admin`)."
        return f"{description}\n\n{requirement}".strip()

    def get_extensions(self) -> dict[str, Any]:
        extensions = dict(super().get_extensions())
        scope = self._required_scope()
        if scope is not None:
            extensions["x-required-scope"] = scope
        return extensions
