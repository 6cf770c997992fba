"""What schemathesis found the OpenAPI document and the server disagreeing on, one case each:
each request the schema forbids is a 400, each answer matches its schema."""

from __future__ import annotations

import json

import pytest

from tasks_app.services import task_create
from tests.fixtures import bearer_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/tasks/", "/api/v1/tags/", "/api/v1/notifications/"])
@pytest.mark.parametrize(
    ("params", "field"),
    [({"offset": "null"}, "offset"), ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset"), ({"limit": ""}, "limit")],
)
def test_a_page_parameter_that_is_not_a_whole_number_in_range_is_400(api_client, path, params, field):
    response = api_client.get(path, params)
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_large_limit_is_capped_not_refused(api_client, user):
    task_create(owner=user, title="one")
    response = api_client.get("/api/v1/tasks/", {"limit": "100000"})
    assert response.status_code == 200
    assert "limit=200" in (response.json()["previous"] or "limit=200")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/notifications/", {"task": ""}, "task"),
        ("/api/v1/notifications/", {"status": ""}, "status"),
        ("/api/v1/audit/", {"action": ""}, "action"),
        ("/api/v1/audit/export/", {"action": ""}, "action"),
    ],
)
def test_an_empty_filter_value_is_400_not_ignored(api_client, path, params, field):
    response = api_client.get(path, params)
    assert response.status_code == 400, response.content
    assert field in json.loads(response.content)["error"]["fields"]  # the export answers NDJSON


def test_an_empty_occurrence_count_is_400(api_client, user):
    task = task_create(owner=user, title="t")
    response = api_client.get(f"/api/v1/tasks/{task.id}/occurrences/", {"count": ""})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["count"]


def test_me_without_an_email_matches_its_schema(client, make_user):
    user = make_user("no-mail")
    user.email = ""
    user.save()
    assert bearer_client(user).get("/api/v1/me/").json()["email"] == ""
    schema = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]["Me"]
    assert "format" not in schema["properties"]["email"]


def test_unknown_body_keys_are_refused_where_the_schema_says_additional_properties_false(api_client, client):
    schemas = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    for name in ("TaskInputRequest", "PatchedTaskInputRequest", "ReminderInputRequest", "PreviewInputRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    reminder = api_client.post(
        "/api/v1/tasks/", {"title": "t", "reminders": [{"remind_at": "2099-01-01T00:00:00Z", "x": 1}]}, format="json"
    )
    assert reminder.status_code == 400
    assert reminder.json()["error"]["fields"] == {"reminders": [{"x": ["Unknown field."]}]}
    preview = api_client.post(
        "/api/v1/recurrence/preview/",
        {"recurrence_rule": "daily", "due_at": "2026-12-01T09:00:00Z", "colour": "red"},
        format="json",
    )
    assert preview.status_code == 400
    assert preview.json()["error"]["fields"] == {"colour": ["Unknown field."]}
