"""Tests for apps.accounts.authentication: parsing `Authorization: Bearer <api key>`."""

import pytest
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.accounts.authentication import ApiKeyAuthentication
from apps.accounts.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def _authenticate(header: str | None) -> object:
    factory = APIRequestFactory()
    request = Request(factory.get("/") if header is None else factory.get("/", HTTP_AUTHORIZATION=header))
    return ApiKeyAuthentication().authenticate(request)


def test_no_header_leaves_the_request_anonymous() -> None:
    assert _authenticate(None) is None
    assert _authenticate("") is None


def test_bearer_key_authenticates_as_the_key() -> None:
    api_key, raw_key = api_key_create(name="orders-service")
    assert _authenticate(f"Bearer {raw_key}") == (api_key, api_key)


def test_surrounding_whitespace_around_the_key_is_ignored() -> None:
    api_key, raw_key = api_key_create(name="orders-service")
    assert _authenticate(f"Bearer   {raw_key}  ") == (api_key, api_key)


def test_auth_scheme_is_case_insensitive() -> None:
    # RFC 9110 11.1: the authentication scheme is a case-insensitive token.
    api_key, raw_key = api_key_create(name="orders-service")
    assert _authenticate(f"bearer {raw_key}") == (api_key, api_key)
    assert _authenticate(f"BEARER {raw_key}") == (api_key, api_key)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer    ", "Token sb_a_b", "Basic dXNlcjpwYXNz", "sb_a_b"])
def test_other_schemes_and_missing_keys_are_refused(header: str) -> None:
    with pytest.raises(exceptions.AuthenticationFailed) as info:
        _authenticate(header)
    assert str(info.value.detail) == "Use the header 'Authorization: Bearer <api key>'."


def test_malformed_key_is_refused() -> None:
    with pytest.raises(exceptions.AuthenticationFailed) as info:
        _authenticate("Bearer not-a-key")
    assert str(info.value.detail) == "API keys look like sb_<prefix>_<secret>."


def test_wrong_secret_is_refused() -> None:
    _, raw_key = api_key_create(name="orders-service")
    with pytest.raises(exceptions.AuthenticationFailed) as info:
        _authenticate(f"Bearer {raw_key}wrong")
    assert str(info.value.detail) == "Unknown or revoked API key."


def test_revoked_key_is_refused() -> None:
    api_key, raw_key = api_key_create(name="orders-service")
    api_key_revoke(api_key=api_key)
    with pytest.raises(exceptions.AuthenticationFailed) as info:
        _authenticate(f"Bearer {raw_key}")
    assert str(info.value.detail) == "Unknown or revoked API key."


def test_challenge_names_the_bearer_scheme() -> None:
    request = Request(APIRequestFactory().get("/"))
    assert ApiKeyAuthentication().authenticate_header(request) == 'Bearer realm="switchboard"'
