"""The admin and API docs pages carry a Content-Security-Policy that allows this origin only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from core.csp import HEADER, POLICY

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_the_policy_names_no_other_origin_and_allows_no_inline_code() -> None:
    sources = {source for directive in POLICY.split(";") for source in directive.split()[1:]}

    assert sources <= {"'self'", "'none'", "data:"}, sources
    assert re.search(r"\bdefault-src 'self'", POLICY)
    assert "frame-ancestors 'none'" in POLICY


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_login_and_docs_pages_carry_the_policy(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response[HEADER] == POLICY


@pytest.mark.parametrize("path", ["/admin/", "/admin/audit_app/auditlog/", "/admin/tasks_app/task/"])
def test_admin_pages_carry_the_policy(staff: Client, path: str) -> None:
    response = staff.get(path)

    assert response.status_code == 200
    assert response[HEADER] == POLICY


def test_json_answers_and_the_docs_script_carry_none(client: Client, api_client: Any) -> None:
    assert HEADER not in api_client.get("/api/v1/tasks/")
    assert HEADER not in client.get("/api/schema/")
    script = client.get("/api/docs/", {"script": ""})
    assert script["Content-Type"].startswith("application/javascript")
    assert HEADER not in script
