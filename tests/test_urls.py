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


def test_openapi_schema_names_the_scope_of_each_operation(client: Client) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)

    publish = schema["paths"]["/api/v1/topics/{topic}/messages"]["post"]
    purge = schema["paths"]["/api/v1/dead-letters"]["delete"]
    assert (publish["x-required-scope"], purge["x-required-scope"]) == ("publish", "purge")
    assert "Requires an API key with the `purge` scope" in purge["description"]
    operations = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert all("x-required-scope" in op for op in operations)
