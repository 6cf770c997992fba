"""The tools' input schemas, derived from the OpenAPI document, accept exactly what the REST
server accepts: list filters (comma-list patterns) and reminders (exactly one of two fields)."""

from __future__ import annotations

import jsonschema
import pytest

from mcp_app.schemas import parameters, request_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("priority", "high"),
        ("priority", "high, urgent"),
        ("priority", "HIGH"),
        ("priority", " high"),
        ("priority", "high,"),
        ("priority", "low,medium,high,urgent,low"),
        ("ordering", "-due_at,title"),
        ("ordering", "owner"),
        ("ordering", ",title"),
        ("tag", "work"),
        ("tag", "Work, home"),
        ("tag", " work"),
        ("tag", "x" * 50),
        ("tag", "x" * 51),
        ("tag", ",".join(["a"] * 21)),
        ("tag", "a\x00b"),
        ("status", ""),
        ("q", ""),
    ],
)
def test_list_filters_are_accepted_exactly_when_the_schema_allows_them(api_client, name, value):
    schema_allows = jsonschema.Draft202012Validator(parameters("tasks_list")).is_valid({name: value})
    response = api_client.get("/api/v1/tasks/", {name: value})
    assert response.status_code == (200 if schema_allows else 400), response.content


@pytest.mark.parametrize(
    "reminder",
    [
        {"remind_at": "2099-01-01T08:00:00Z"},
        {"offset_minutes": 30},
        {"remind_at": "2099-01-01T08:00:00Z", "offset_minutes": None},
        {"remind_at": None, "offset_minutes": 30},
        {"remind_at": "2099-01-01T08:00:00Z", "offset_minutes": 30},
        {"remind_at": None, "offset_minutes": None},
        {},
    ],
)
def test_a_reminder_is_accepted_exactly_when_the_schemas_one_of_allows_it(api_client, reminder):
    body = {"title": "t", "due_at": "2099-01-02T09:00:00Z", "reminders": [reminder]}
    schema_allows = jsonschema.Draft202012Validator(request_body("tasks_create")).is_valid(body)
    response = api_client.post("/api/v1/tasks/", body, format="json")
    assert response.status_code == (201 if schema_allows else 400), response.content
