"""API keys in the admin: the secret is shown once, at creation; keys are revoked by an action."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.accounts.models import ApiKey
from apps.accounts.services import InvalidApiKeyError, api_key_authenticate

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw-root-123"))
    return client


def test_creating_a_key_shows_its_secret_once(admin_client: Client) -> None:
    form = {
        "name": "orders",
        "scopes": ["publish", "read"],
        "topic_patterns": "orders.*",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    response = admin_client.post("/admin/accounts/apikey/add/", form, follow=True)

    shown = re.findall(r"sb_[A-Za-z0-9]+_[A-Za-z0-9_-]+", response.content.decode())
    assert len(set(shown)) == 1
    key = api_key_authenticate(raw_key=shown[0])
    assert (key.name, key.scopes, key.topic_patterns) == ("orders", ["publish", "read"], ["orders.*"])
    again = admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert shown[0] not in again
    assert shown[0].split("_", 2)[2] not in admin_client.get("/admin/accounts/apikey/").content.decode()


def test_the_revoke_action_revokes(admin_client: Client) -> None:
    admin_client.post(
        "/admin/accounts/apikey/add/",
        {"name": "a", "scopes": ["read"], "topic_patterns": "", "expires_at_0": "", "expires_at_1": ""},
    )
    key = ApiKey.objects.get()

    admin_client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None
    with pytest.raises(InvalidApiKeyError):
        api_key_authenticate(raw_key="sb_" + key.prefix + "_x")
