"""Tests for project.urls: the OpenAPI schema and the self-hosted API docs."""

import re

import yaml
from django.test import Client


def test_openapi_schema_is_served_without_credentials(client: Client) -> None:
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    assert schema["info"]["title"] == "Switchboard API"
    assert "post" in schema["paths"]["/api/v1/topics/{topic}/messages"]
    assert "get" in schema["paths"]["/api/v1/messages/{message_id}"]


def test_api_docs_are_served_from_the_sidecar_not_a_cdn(client: Client) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/schema/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []
