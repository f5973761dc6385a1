"""Fixtures shared by every test package; keep them generic (tests/system adds its own)."""

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create


@pytest.fixture
def api_client() -> APIClient:
    """Return a DRF test client without credentials."""
    return APIClient()


@pytest.fixture
def api_key(db: None) -> str:
    """Create an active API key and return its raw form (sb_<prefix>_<secret>)."""
    _, raw_key = api_key_create(name="tests")
    return raw_key


@pytest.fixture
def authenticated_client(api_client: APIClient, api_key: str) -> APIClient:
    """Return a DRF test client that sends `Authorization: Bearer <api_key>`."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return api_client
