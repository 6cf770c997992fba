from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from core.auth.tokens import verify_token

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_prints_a_working_token_and_creates_the_user() -> None:
    token = run("erin", "--email", "erin@example.com", "--ttl", "120")
    claims = verify_token(token)
    assert claims["sub"] == "erin"
    assert claims["exp"] - claims["iat"] == 120
    assert get_user_model().objects.get(username="erin").email == "erin@example.com"
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["username"] == "erin"


def test_updates_the_email_of_an_existing_user() -> None:
    run("frank", "--email", "old@example.com")
    run("frank", "--email", "new@example.com")
    assert get_user_model().objects.get(username="frank").email == "new@example.com"


def test_rejects_a_non_positive_ttl() -> None:
    with pytest.raises(CommandError, match="--ttl"):
        run("gina", "--ttl", "0")
