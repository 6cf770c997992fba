"""The recurrence REST API: preview and a task's next occurrences."""

from __future__ import annotations

from typing import Any

import pytest

from tasks_app import services as task_services

pytestmark = pytest.mark.django_db

PREVIEW = "/api/v1/recurrence/preview/"


def test_preview_returns_occurrences_text_and_end(api_client: Any) -> None:
    response = api_client.post(
        PREVIEW,
        {
            "recurrence_rule": "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=8",
            "due_at": "2026-12-01T09:00:00+01:00",
            "timezone": "Europe/Berlin",
            "count": 3,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "occurrences": ["2026-12-01T09:00:00+01:00", "2026-12-03T09:00:00+01:00", "2026-12-15T09:00:00+01:00"],
        "text": "every 2 weeks on Tuesday and Thursday, 8 times",
        "ends": True,
        "recurrence_rule": "FREQ=WEEKLY;INTERVAL=2;COUNT=8;BYDAY=TU,TH",
    }


def test_preview_keeps_local_time_across_dst_and_reads_naive_times_in_the_zone(api_client: Any) -> None:
    response = api_client.post(
        PREVIEW,
        {"recurrence_rule": "daily", "due_at": "2026-03-07T09:00:00", "timezone": "America/New_York", "count": 3},
        format="json",
    )
    assert response.json()["occurrences"] == [
        "2026-03-07T09:00:00-05:00",
        "2026-03-08T09:00:00-04:00",
        "2026-03-09T09:00:00-04:00",
    ]
    assert response.json()["ends"] is False


def test_preview_of_the_monthly_preset_on_the_31st(api_client: Any) -> None:
    response = api_client.post(
        PREVIEW,
        {"recurrence_rule": "monthly", "due_at": "2027-01-31T09:00:00+11:00", "timezone": "Australia/Sydney"},
        format="json",
    )
    body = response.json()
    assert [moment[:10] for moment in body["occurrences"][:4]] == [
        "2027-01-31",
        "2027-02-28",
        "2027-03-31",
        "2027-04-30",
    ]
    assert len(body["occurrences"]) == 10  # the default count
    assert body["text"] == "every month on the 31st, or the month's last day when shorter"


def test_preview_in_completion_mode(api_client: Any) -> None:
    response = api_client.post(
        PREVIEW,
        {
            "recurrence_rule": "FREQ=DAILY;INTERVAL=3",
            "due_at": "2026-05-01T08:00:00Z",
            "count": 2,
            "recurrence_mode": "completion",
        },
        format="json",
    )
    assert response.json()["occurrences"] == ["2026-05-01T08:00:00Z", "2026-05-04T08:00:00Z"]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"recurrence_rule": "FREQ=WEEKLY;BYDAY=XX"}, "recurrence_rule", "BYDAY: 'XX' is not a weekday"),
        ({"recurrence_rule": "FREQ=DAILY;COUNT=2;UNTIL=20270101"}, "recurrence_rule", "COUNT and UNTIL"),
        ({"recurrence_rule": ""}, "recurrence_rule", ""),
        ({"recurrence_rule": 42}, "recurrence_rule", ""),
        ({"recurrence_rule": "x" * 501}, "recurrence_rule", ""),
        ({"due_at": "tomorrow"}, "due_at", ""),
        ({"due_at": None}, "due_at", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"count": 0}, "count", "from 1 to 100"),
        ({"count": 101}, "count", "from 1 to 100"),
        ({"count": "many"}, "count", "from 1 to 100"),
        ({"recurrence_mode": "sometimes"}, "recurrence_mode", ""),
    ],
)
def test_preview_rejects_bad_input_with_field_messages(api_client: Any, body: dict, field: str, fragment: str) -> None:
    payload = {"recurrence_rule": "daily", "due_at": "2026-12-01T09:00:00+01:00", "timezone": "Europe/Berlin"}
    payload.update(body)
    response = api_client.post(PREVIEW, payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert fragment in " ".join(error["fields"][field])


def test_preview_rejects_a_missing_rule_and_non_json(api_client: Any) -> None:
    response = api_client.post(PREVIEW, {"due_at": "2026-12-01T09:00:00Z"}, format="json")
    assert response.status_code == 400
    assert "recurrence_rule" in response.json()["error"]["fields"]
    response = api_client.post(PREVIEW, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_preview_needs_authentication() -> None:
    from rest_framework.test import APIClient

    response = APIClient().post(PREVIEW, {"recurrence_rule": "daily"}, format="json")
    assert response.status_code == 401


# --- GET /tasks/{id}/occurrences/ ------------------------------------------------------------------


def test_task_occurrences_are_the_next_ones_after_the_task(api_client: Any, user: Any) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    task = task_services.task_create(
        owner=user,
        title="stand-up",
        due_at=datetime(2026, 3, 27, 9, tzinfo=ZoneInfo("Europe/Berlin")),
        timezone="Europe/Berlin",
        recurrence_rule="weekdays",
    )
    response = api_client.get(f"/api/v1/tasks/{task.id}/occurrences/", {"count": 3})
    assert response.status_code == 200
    assert response.json() == {
        "occurrences": ["2026-03-30T09:00:00+02:00", "2026-03-31T09:00:00+02:00", "2026-04-01T09:00:00+02:00"],
        "text": "every weekday",
    }


def test_task_occurrences_of_a_task_that_does_not_recur_are_empty(api_client: Any, user: Any) -> None:
    task = task_services.task_create(owner=user, title="once")
    response = api_client.get(f"/api/v1/tasks/{task.id}/occurrences/")
    assert response.json() == {"occurrences": [], "text": ""}


def test_task_occurrences_of_another_users_task_are_404(other_client: Any, user: Any) -> None:
    from django.utils import timezone

    task = task_services.task_create(owner=user, title="mine", due_at=timezone.now(), recurrence_rule="daily")
    assert other_client.get(f"/api/v1/tasks/{task.id}/occurrences/").status_code == 404
    assert other_client.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000/occurrences/").status_code == 404


@pytest.mark.parametrize("count", ["0", "101", "x", "-5"])
def test_task_occurrences_count_is_validated(api_client: Any, user: Any, count: str) -> None:
    task = task_services.task_create(owner=user, title="once")
    response = api_client.get(f"/api/v1/tasks/{task.id}/occurrences/", {"count": count})
    assert response.status_code == 400
    assert "count" in response.json()["error"]["fields"]


def test_task_representation_gains_recurrence_text(api_client: Any, user: Any) -> None:
    from django.utils import timezone

    task = task_services.task_create(
        owner=user, title="gym", due_at=timezone.now(), recurrence_rule="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8"
    )
    response = api_client.get(f"/api/v1/tasks/{task.id}/")
    assert response.json()["recurrence_text"] == "every week on Monday and Wednesday, 8 times"


def test_the_schema_documents_the_recurrence_endpoints(api_client: Any) -> None:
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = response.json()["paths"]
    assert "post" in paths["/api/v1/recurrence/preview/"]
    assert "get" in paths["/api/v1/tasks/{task_id}/occurrences/"]
