"""The admin login locks out after repeated failures (django-axes)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


def _login(client: Client, password: str) -> int:
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": password})
    return response.status_code


def test_five_wrong_passwords_lock_the_login_even_for_the_right_one(settings: object) -> None:
    get_user_model().objects.create_superuser("root", "", "the-right-password-1")
    client = Client()

    wrong = [_login(client, f"wrong-{n}") for n in range(5)]
    right = _login(client, "the-right-password-1")

    assert wrong[:4] == [200, 200, 200, 200]  # the form again, with its error
    assert (wrong[4], right) == (429, 429)


def test_a_right_password_logs_in() -> None:
    get_user_model().objects.create_superuser("root", "", "the-right-password-1")

    assert _login(Client(), "the-right-password-1") == 302
