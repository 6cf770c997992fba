"""What schemathesis found the OpenAPI document and the server disagreeing on, one case each:
each request the schema forbids is a 400, each answer matches its schema."""

from __future__ import annotations

import json
import re
import zoneinfo

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


def test_text_fields_of_bodies_state_that_nul_is_refused(api_client, client):
    schemas = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    task = schemas["TaskInputRequest"]["properties"]
    for spec in (task["title"], task["description"], task["tags"]["items"], task["recurrence_rule"]):
        assert not re.search(spec["pattern"], "a\x00b")
        assert re.search(spec["pattern"], "a b\n")
    response = api_client.post("/api/v1/tasks/", {"title": "a\x00b", "tags": ["x\x00"]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"title", "tags"}


# --- Query parameters, ids, time zones and reminders exactly as the schema says ----------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks/",
        "/api/v1/tags/",
        "/api/v1/notifications/",
        "/api/v1/audit/",
        "/api/v1/audit/export/",
        "/api/v1/me/",
    ],
)
def test_a_query_parameter_the_operation_does_not_document_is_400(api_client, path):
    response = api_client.get(path, {"colour": "red"})
    assert response.status_code == 400, response.content
    assert list(json.loads(response.content)["error"]["fields"]) == ["colour"]


def test_a_documented_query_parameter_of_a_task_is_accepted_and_another_refused(api_client, user):
    task = task_create(owner=user, title="t")
    assert api_client.get(f"/api/v1/tasks/{task.id}/occurrences/", {"count": "2"}).status_code == 200
    assert api_client.get(f"/api/v1/tasks/{task.id}/", {"count": "2"}).status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/v1/tasks/0/", "/api/v1/tasks/0/complete/", "/api/v1/tasks/0/occurrences/", "/api/v1/nothing/"]
)
def test_an_unknown_api_url_is_the_json_404_even_with_debug_on(api_client, settings, path):
    settings.DEBUG = True  # Django answers an unmatched URL with its HTML page then
    response = api_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("topic", "allowed"), [("task-events", True), ("task-events, reminders.dlq", True), ("payments", False)]
)
def test_audit_topics_are_the_schemas_enumeration(api_client, client, topic, allowed):
    document = client.get("/api/schema/", {"format": "json"}).json()
    (pattern,) = [
        p["schema"]["pattern"] for p in document["paths"]["/api/v1/audit/"]["get"]["parameters"] if p["name"] == "topic"
    ]
    assert (re.search(pattern, topic) is not None) is allowed
    assert api_client.get("/api/v1/audit/", {"topic": topic}).status_code == (200 if allowed else 400)


def test_the_time_zone_enum_is_the_set_the_server_accepts(api_client, client):
    schemas = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert schemas["TimezoneEnum"]["enum"] == sorted(zoneinfo.available_timezones())
    for name in ("TaskInputRequest", "PreviewInputRequest"):
        assert schemas[name]["properties"]["timezone"]["allOf"] == [{"$ref": "#/components/schemas/TimezoneEnum"}]
    assert (
        api_client.post("/api/v1/tasks/", {"title": "t", "timezone": "Europe/Berlin"}, format="json").status_code == 201
    )
    refused = api_client.post("/api/v1/tasks/", {"title": "t", "timezone": "Mars/Olympus"}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["timezone"]


@pytest.mark.parametrize(("status", "accepted"), [("sent, delivered", True), ("dead", True), ("sent,,dead", False)])
def test_notification_statuses_are_the_schemas_comma_list(api_client, client, status, accepted):
    document = client.get("/api/schema/", {"format": "json"}).json()
    parameters = document["paths"]["/api/v1/notifications/"]["get"]["parameters"]
    (pattern,) = [p["schema"]["pattern"] for p in parameters if p["name"] == "status"]
    assert (re.search(pattern, status) is not None) is accepted
    assert api_client.get("/api/v1/notifications/", {"status": status}).status_code == (200 if accepted else 400)


def test_page_bounds_and_search_text_are_what_the_schema_says(api_client, client):
    document = client.get("/api/schema/", {"format": "json"}).json()
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/tasks/"]["get"]["parameters"]}
    assert parameters["offset"]["maximum"] == parameters["limit"]["maximum"] == 10**18 - 1
    assert api_client.get("/api/v1/tasks/", {"offset": str(10**18 - 1)}).status_code == 200
    assert api_client.get("/api/v1/tasks/", {"offset": str(10**18)}).status_code == 400
    assert re.search(parameters["q"]["pattern"], "a\x00") is None
    assert api_client.get("/api/v1/tasks/", {"q": "a\x00"}).status_code == 400


def test_me_documents_its_401(client):
    document = client.get("/api/schema/", {"format": "json"}).json()
    assert "401" in document["paths"]["/api/v1/me/"]["get"]["responses"]
    assert client.get("/api/v1/me/").status_code == 401


def test_no_parameter_pattern_ends_where_python_and_ecma_disagree(client):
    """Python's `$` matches before a final newline, ECMA's does not: a generator would put one
    into a header (a malformed request), and validators would disagree with the server."""
    document = client.get("/api/schema/", {"format": "json"}).json()
    parameters = [
        parameter
        for operations in document["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if "pattern" in parameter.get("schema", {})
    ]
    assert len(parameters) >= 8
    for parameter in parameters:
        assert parameter["schema"]["pattern"].endswith(r"(?!\n)$"), parameter["name"]
    headers = {
        parameter["name"]: parameter["schema"]["pattern"] for parameter in parameters if parameter["in"] == "header"
    }
    assert set(headers) == {"If-Match", "Idempotency-Key"}
    for value in ('"3"', "*", "key-1"):
        assert not any(re.search(pattern, value + "\n") for pattern in headers.values())
    assert re.search(headers["Idempotency-Key"], " key-1") is None  # HTTP would strip the space


def test_an_empty_format_of_the_export_is_400_as_its_enumeration_says(api_client):
    response = api_client.get("/api/v1/audit/export/", {"format": ""})
    assert response.status_code == 400
    assert "format" in json.loads(response.content)["error"]["fields"]
