"""Describe API-key authentication and each operation's scope in the OpenAPI schema."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from apps.accounts.scopes import view_required_scope


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sb_<prefix>_<secret>"}


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` names fields, `required_scope` a missing scope.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {},
        "required_scope": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
# The errors any operation may answer, and those of operations that take a body.
PROBLEMS = {
    "400": "Invalid input: a malformed body, field or query parameter (`errors` names it).",
    "401": "No API key, or a malformed, unknown, revoked or expired one.",
    "403": "The API key lacks the operation's scope (`required_scope`).",
    "404": "No such object, or one outside the API key's topics.",
    "429": "A rate limit is used up; Retry-After says when to try again.",
}
BODY_PROBLEMS = {
    "409": "Conflicts with the current state (a name taken, an idempotency key in use).",
    "413": "The request body or payload is larger than allowed.",
    "422": "Well formed but not acceptable (e.g. an idempotency key reused with another body).",
}


class ScopedAutoSchema(AutoSchema):
    """drf-spectacular's schema, with each operation's scope (`x-required-scope`, description) and problems."""

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        if operation is None or self._required_scope() is None:
            return operation
        component = ResolvedComponent("Problem", ResolvedComponent.SCHEMA, object="Problem", schema=PROBLEM_SCHEMA)
        self.registry.register_on_missing(component)
        problems = {**PROBLEMS, **(BODY_PROBLEMS if self.method in {"POST", "PATCH", "PUT", "DELETE"} else {})}
        for code, description in problems.items():
            operation["responses"].setdefault(
                code, {"description": description, "content": {"application/problem+json": {"schema": component.ref}}}
            )
        return operation

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
