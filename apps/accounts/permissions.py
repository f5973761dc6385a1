"""DRF permission: the API key must hold the scope the view declares (and the view must declare one)."""

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.accounts.models import ApiKey
from apps.accounts.scopes import MissingScopeError, Scope, UndeclaredScopeError, scopes_grant, view_required_scope
from apps.accounts.topics import TopicNotVisibleError, visible_topics

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is half imported
    from rest_framework.views import APIView


class ScopePermission(BasePermission):
    """Allow a request when its API key has the view's `required_scope` for the method.

    Without a key DRF answers 401. A method the view does not implement passes, so DRF
    answers 405; OPTIONS (DRF's description of the view) needs `read`. A view whose URL
    names a topic says which keyword in `topic_kwarg`: a topic outside the key's
    patterns answers 404, as an unknown topic does.
    """

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not isinstance(request.auth, ApiKey):
            return False
        method = request.method or "GET"
        if method == "OPTIONS":
            scope: str | None = Scope.READ
        elif not hasattr(view, method.lower()):
            return True
        else:
            scope = view_required_scope(view, method)
        if scope is None:
            raise UndeclaredScopeError(f"{type(view).__name__} declares no required_scope for {method}.")
        if not scopes_grant(request.auth.scopes, scope):
            raise MissingScopeError(scope)
        topic = view.kwargs.get(getattr(view, "topic_kwarg", ""))
        if topic is not None and not visible_topics(request).allows(topic):
            raise TopicNotVisibleError(topic)
        return True
