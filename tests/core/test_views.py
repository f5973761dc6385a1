"""Tests for apps.core.views: the liveness probe and the API's not-found fallback."""

import orjson
import pytest
from django.test import Client
from rest_framework.test import APIClient


def test_healthz_answers_ok_without_credentials(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert orjson.loads(response.content) == {"status": "ok"}


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_unknown_api_path_is_a_problem_404_for_every_method(api_client: APIClient, method: str) -> None:
    response = getattr(api_client, method)("/api/v1/whatever")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert orjson.loads(response.content) == {
        "type": "https://switchboard.dev/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No API resource at /api/v1/whatever.",
    }


def test_unknown_nested_api_path_is_a_problem_404(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/topics/orders.created/nothing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert orjson.loads(response.content)["detail"] == "No API resource at /api/v1/topics/orders.created/nothing."
