from __future__ import annotations

import pytest

from tasks_app.models import Task

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def detail(task_id: str, suffix: str = "") -> str:
    return f"{URL}{task_id}/{suffix}"


def create(client, **body):
    response = client.post(URL, {"title": "Task", **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_returns_the_representation_with_etag_and_location(api_client):
    response = api_client.post(
        URL,
        {
            "title": "Report",
            "due_at": "2026-12-01T09:00:00",
            "timezone": "Europe/Berlin",
            "tags": [" Work", "work", "HOME"],
            "reminders": [{"offset_minutes": 30}],
            "recurrence_rule": "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"/api/v1/tasks/{body['id']}/"
    assert set(body) == {
        "id",
        "title",
        "description",
        "status",
        "priority",
        "tags",
        "due_at",
        "timezone",
        "recurrence_rule",
        "recurrence_mode",
        "recurrence_text",
        "series_id",
        "completed_at",
        "reminders",
        "created_at",
        "updated_at",
        "version",
    }
    assert body["due_at"] == "2026-12-01T09:00:00+01:00"  # naive input read in the task's zone
    assert body["tags"] == ["home", "work"]
    assert body["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO,WE"
    assert body["series_id"] is not None
    assert body["reminders"][0]["remind_at"] == "2026-12-01T08:30:00+01:00"
    assert body["reminders"][0]["offset_minutes"] == 30
    assert body["status"] == "open"
    assert body["priority"] == "medium"


def test_retrieve_has_etag_of_the_version(api_client):
    task = create(api_client)
    response = api_client.get(detail(task["id"]))
    assert response.status_code == 200
    assert response.json() == task
    assert response["ETag"] == '"1"'


def test_patch_changes_only_given_fields_and_bumps_version(api_client):
    task = create(api_client, description="keep me", priority="low")
    response = api_client.patch(detail(task["id"]), {"title": "New"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["description"], body["priority"], body["version"]) == ("New", "keep me", "low", 2)
    assert response["ETag"] == '"2"'


def test_put_replaces_every_writable_field_with_defaults(api_client):
    task = create(api_client, description="gone", priority="high", tags=["x"])
    response = api_client.put(detail(task["id"]), {"title": "Only"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["description"], body["priority"], body["tags"]) == ("", "medium", [])


def test_naive_due_at_in_patch_is_read_in_the_tasks_timezone(api_client):
    task = create(api_client, timezone="America/New_York")
    response = api_client.patch(detail(task["id"]), {"due_at": "2026-07-01T09:00:00"}, format="json")
    assert response.json()["due_at"] == "2026-07-01T09:00:00-04:00"


def test_if_match_with_stale_version_is_412_and_changes_nothing(api_client):
    task = create(api_client)
    api_client.patch(detail(task["id"]), {"title": "v2"}, format="json")
    response = api_client.patch(detail(task["id"]), {"title": "v3"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert response["ETag"] == '"2"'
    assert Task.objects.get(pk=task["id"]).title == "v2"
    put = api_client.put(detail(task["id"]), {"title": "v3"}, format="json", HTTP_IF_MATCH='W/"1"')
    assert put.status_code == 412
    delete = api_client.delete(detail(task["id"]), HTTP_IF_MATCH='"1"')
    assert delete.status_code == 412
    assert Task.objects.filter(pk=task["id"]).exists()


def test_if_match_with_current_version_succeeds(api_client):
    task = create(api_client)
    response = api_client.patch(detail(task["id"]), {"title": "v2"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200
    assert api_client.delete(detail(task["id"]), HTTP_IF_MATCH='"2"').status_code == 204


def test_delete_removes_the_task(api_client):
    task = create(api_client)
    assert api_client.delete(detail(task["id"])).status_code == 204
    assert api_client.get(detail(task["id"])).status_code == 404


def test_complete_and_reopen_are_idempotent(api_client):
    task = create(api_client)
    first = api_client.post(detail(task["id"], "complete/"))
    assert first.status_code == 200
    assert first.json()["status"] == "completed"
    assert first.json()["completed_at"] is not None
    second = api_client.post(detail(task["id"], "complete/"))
    assert second.json()["version"] == first.json()["version"]
    reopened = api_client.post(detail(task["id"], "reopen/"))
    assert reopened.json()["status"] == "open"
    assert reopened.json()["completed_at"] is None
    again = api_client.post(detail(task["id"], "reopen/"))
    assert again.json()["version"] == reopened.json()["version"]


def test_status_cannot_be_patched_and_the_message_says_how_to_change_it(api_client):
    task = create(api_client)
    response = api_client.patch(detail(task["id"]), {"status": "completed"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "status": ["status is read-only here: use POST /api/v1/tasks/{id}/complete/ or /reopen/."]
    }


@pytest.mark.parametrize("field", ["id", "series_id", "created_at", "updated_at", "version", "completed_at", "owner"])
def test_read_only_fields_cannot_be_written(api_client, field):
    task = create(api_client)
    response = api_client.patch(detail(task["id"]), {field: "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: ["This field is read-only."]}
    created = api_client.post(URL, {"title": "t", field: "x"}, format="json")
    assert created.status_code == 400
    assert created.json()["error"]["fields"] == {field: ["This field is read-only."]}


def test_unknown_fields_are_rejected(api_client):
    response = api_client.post(URL, {"title": "t", "colour": "red"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"colour": ["Unknown field."]}


def test_unauthenticated_requests_are_401(client):
    assert client.get(URL).status_code == 401
    assert client.get("/api/v1/tags/").status_code == 401


def test_tags_list_counts_tasks(api_client):
    create(api_client, tags=["work", "home"])
    done = create(api_client, tags=["work"])
    api_client.post(detail(done["id"], "complete/"))
    response = api_client.get("/api/v1/tags/")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"name": "home", "task_count": 1, "open_task_count": 1},
        {"name": "work", "task_count": 2, "open_task_count": 1},
    ]


def test_body_larger_than_the_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_client.post(URL, {"title": "t", "description": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_malformed_json_is_400(api_client):
    response = api_client.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    deep = api_client.post(URL, data="[" * 100000, content_type="application/json")
    assert deep.status_code == 400


def test_occurrences_path_is_not_swallowed_by_task_routes():
    from tasks_app.urls import urlpatterns

    path = "tasks/6f1d3c1a-8a0e-4d8b-9a8e-1c2b3d4e5f60/occurrences/"
    assert all(pattern.resolve(path) is None for pattern in urlpatterns)


def test_if_match_star_and_lists_of_etags(api_client):
    task = create(api_client)
    assert api_client.patch(detail(task["id"]), {"title": "a"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    listed = api_client.patch(detail(task["id"]), {"title": "b"}, format="json", HTTP_IF_MATCH='"1", "2"')
    assert listed.status_code == 200
    # Not an ETag at all: a malformed request (the schema's pattern), not a failed precondition.
    garbage = api_client.patch(detail(task["id"]), {"title": "c"}, format="json", HTTP_IF_MATCH="nonsense")
    assert garbage.status_code == 400
    assert list(garbage.json()["error"]["fields"]) == ["If-Match"]
    stale = api_client.patch(detail(task["id"]), {"title": "c"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412


def test_a_put_whose_body_is_not_json_is_400_even_with_a_stale_if_match(api_client):
    task = create(api_client)
    response = api_client.put(detail(task["id"]), "{not json", content_type="application/json", HTTP_IF_MATCH='"9"')
    assert response.status_code == 400


def test_replacing_reminders_keeps_unchanged_ones_and_cancels_the_rest(api_client):
    task = create(api_client, due_at="2030-01-01T09:00:00Z", reminders=[{"offset_minutes": 10}, {"offset_minutes": 60}])
    kept = next(r for r in task["reminders"] if r["offset_minutes"] == 10)
    response = api_client.patch(
        detail(task["id"]), {"reminders": [{"offset_minutes": 10}, {"offset_minutes": 5}]}, format="json"
    )
    reminders = response.json()["reminders"]
    assert sorted(r["offset_minutes"] for r in reminders) == [5, 10]
    assert kept["id"] in {r["id"] for r in reminders}


def test_moving_due_at_moves_relative_reminders(api_client):
    task = create(api_client, due_at="2030-01-01T09:00:00Z", reminders=[{"offset_minutes": 30}])
    response = api_client.patch(detail(task["id"]), {"due_at": "2030-01-02T09:00:00Z"}, format="json")
    assert response.json()["reminders"][0]["remind_at"] == "2030-01-02T08:30:00Z"


def test_completing_cancels_reminders_and_reopening_reschedules_them(api_client):
    task = create(api_client, due_at="2030-01-01T09:00:00Z", reminders=[{"offset_minutes": 30}])
    completed = api_client.post(detail(task["id"], "complete/")).json()
    assert completed["reminders"][0]["status"] == "cancelled"
    reopened = api_client.post(detail(task["id"], "reopen/"))
    assert reopened["ETag"] == f'"{reopened.json()["version"]}"'
    assert reopened.json()["reminders"][0]["status"] == "scheduled"
