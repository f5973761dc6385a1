"""What an API key may do: its scopes, and the scope each API operation requires.

Every DRF view declares `required_scope`: one Scope value, or a mapping of HTTP method to
Scope value. `admin` implies every other scope. `ScopePermission`
(apps.accounts.permissions) enforces it; a view that declares none is closed to every key.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from apps.core.errors import SwitchboardError


class Scope(StrEnum):
    PUBLISH = "publish"  # publish to topics (single and batch)
    READ = "read"  # messages, deliveries, subscriptions, stats
    REPLAY = "replay"  # dead letters: list, inspect, replay; pause and resume subscriptions
    PURGE = "purge"  # delete dead letters
    ADMIN = "admin"  # topology changes, keys, the audit log; implies every scope


SCOPE_NAMES: tuple[str, ...] = tuple(Scope)


class InvalidScopeError(SwitchboardError):
    """A scope list names something that is not a scope."""

    status = 400
    code = "invalid-scope"
    title = "Unknown scope"


class MissingScopeError(SwitchboardError):
    """The API key lacks the scope the operation requires; the problem names it in `required_scope`."""

    status = 403
    code = "missing-scope"
    title = "The API key lacks the required scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This operation requires the {scope!r} scope, which the API key does not have.")
        self.scope = scope

    def problem_fields(self) -> dict[str, Any]:
        return {"required_scope": self.scope}


class UndeclaredScopeError(SwitchboardError):
    """The view declares no `required_scope` for this method, so no key may call it (fail closed)."""

    status = 403
    code = "scope-not-declared"
    title = "The operation declares no scope"


def scopes_parse(values: Iterable[str]) -> list[str]:
    """Return the scopes named in `values` (blanks skipped), in Scope order; raise InvalidScopeError for others."""
    names = {value.strip() for value in values if value.strip()}
    unknown = sorted(names - set(SCOPE_NAMES))
    if unknown:
        raise InvalidScopeError(f"Unknown scope {', '.join(unknown)}; the scopes are {', '.join(SCOPE_NAMES)}.")
    return [scope for scope in SCOPE_NAMES if scope in names]


def scopes_grant(granted: Iterable[str], scope: str) -> bool:
    """Whether scopes `granted` allow `scope` (`admin` allows everything)."""
    granted = set(granted)
    return Scope.ADMIN in granted or scope in granted


def view_required_scope(view: object, method: str) -> str | None:
    """Return the scope `view` requires for HTTP `method` (HEAD as GET), or None if it declares none."""
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        method = "GET" if method == "HEAD" else method
        declared = declared.get(method)
    return str(declared) if declared in SCOPE_NAMES else None
