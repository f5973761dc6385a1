"""Every endpoint in the URL map declares the scope it requires; one that does not is closed."""

import pytest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.accounts.permissions import ScopePermission
from apps.accounts.scopes import SCOPE_NAMES
from apps.accounts.services import api_key_create
from tests.accounts.endpoints import PUBLIC_VIEWS, SAMPLE_KWARGS, Endpoint, api_endpoints, api_views


def test_the_table_covers_the_api() -> None:
    routes = {str(endpoint) for endpoint in api_endpoints()}
    assert {"POST api/v1/topics/<str:topic>/messages", "DELETE api/v1/dead-letters"} <= routes
    assert len(routes) >= 10


@pytest.mark.parametrize("endpoint", api_endpoints(), ids=str)
def test_every_endpoint_declares_a_scope(endpoint: Endpoint) -> None:
    assert endpoint.required_scope in SCOPE_NAMES, f"{endpoint} declares no required_scope"
    assert set(endpoint.kwargs) <= set(SAMPLE_KWARGS), f"{endpoint}: add its URL keywords to SAMPLE_KWARGS"


@pytest.mark.parametrize("view", [view for _, _, view in api_views() if view not in PUBLIC_VIEWS], ids=str)
def test_every_non_public_view_checks_scopes(view: type[APIView]) -> None:
    assert any(isinstance(permission, ScopePermission) for permission in view().get_permissions())


class _Undeclared(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ran": True})


@pytest.mark.django_db
def test_a_view_without_a_declared_scope_is_closed_even_to_admin() -> None:
    _, raw_key = api_key_create(name="root", scopes=["admin"])

    response = _Undeclared.as_view()(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {raw_key}"))

    assert response.status_code == 403
    assert response.data["type"] == "https://switchboard.dev/problems/scope-not-declared"
