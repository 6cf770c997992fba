"""Each validation message of task input (POST, PATCH); no input yields a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app.models import Task

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"
FUTURE = (timezone.now() + timedelta(days=30)).replace(microsecond=0).isoformat()

TZ_MESSAGE = "Timezone must be an IANA time zone name such as Europe/Berlin, America/New_York or UTC."
DUE_MESSAGE = (
    "due_at must be an ISO 8601 date-time such as 2026-12-01T09:00:00+01:00; "
    "a time without an offset is read in the task's timezone."
)
ONE_OF = "Each reminder needs exactly one of remind_at (a date-time) or offset_minutes (minutes before due_at)."


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title": ["Title is required."]}),
        ({"title": ""}, {"title": ["Title must not be blank."]}),
        ({"title": "   "}, {"title": ["Title must not be blank."]}),
        ({"title": None}, {"title": ["Title must not be blank."]}),
        ({"title": "x" * 501}, {"title": ["Title must be at most 500 characters."]}),
        (
            {"title": "t", "description": "x" * 10_001},
            {"description": ["Description must be at most 10000 characters."]},
        ),
        ({"title": "t", "priority": "critical"}, {"priority": ["Priority must be one of: low, medium, high, urgent."]}),
        ({"title": "t", "due_at": "next friday"}, {"due_at": [DUE_MESSAGE]}),
        ({"title": "t", "due_at": 12345}, {"due_at": [DUE_MESSAGE]}),
        (
            {"title": "t", "due_at": "9999-12-31T23:59:59-12:00"},
            {"due_at": ["Date-times must lie between the years 1970 and 2999."]},
        ),
        ({"title": "t", "timezone": "Mars/Olympus"}, {"timezone": [TZ_MESSAGE]}),
        ({"title": "t", "timezone": "../../etc/passwd"}, {"timezone": [TZ_MESSAGE]}),
        (
            {"title": "t", "recurrence_rule": "daily"},
            {"recurrence_rule": ["A recurrence rule needs due_at: set due_at too (the first occurrence)."]},
        ),
        (
            {"title": "t", "recurrence_mode": "sometimes"},
            {"recurrence_mode": ["recurrence_mode must be one of: schedule, completion."]},
        ),
        ({"title": "t", "tags": [f"t{i}" for i in range(21)]}, {"tags": ["At most 20 tags are allowed."]}),
        ({"title": "t", "tags": ["x" * 51]}, {"tags": {"0": ["Each tag must be at most 50 characters."]}}),
        ({"title": "t", "tags": ["  "]}, {"tags": {"0": ["Tags must not be blank."]}}),
        ({"title": "t", "tags": "work"}, {"tags": ["Tags must be a list of strings."]}),
        (
            {"title": "t", "reminders": [{"offset_minutes": i} for i in range(11)], "due_at": FUTURE},
            {"reminders": ["At most 10 reminders are allowed."]},
        ),
        ({"title": "t", "reminders": [{}]}, {"reminders": [{"non_field_errors": [ONE_OF]}]}),
        (
            {"title": "t", "due_at": FUTURE, "reminders": [{"offset_minutes": 5, "remind_at": FUTURE}]},
            {"reminders": [{"non_field_errors": [ONE_OF]}]},
        ),
        (
            {"title": "t", "reminders": [{"offset_minutes": 30}]},
            {"reminders": ["A reminder with offset_minutes needs due_at on the task."]},
        ),
        (
            {"title": "t", "due_at": FUTURE, "reminders": [{"offset_minutes": -1}]},
            {"reminders": [{"offset_minutes": ["offset_minutes must be between 0 and 527040 (one year)."]}]},
        ),
        (
            {"title": "t", "reminders": [{"remind_at": "2001-01-01T00:00:00Z"}]},
            {"reminders": {"0": ["remind_at must be in the future."]}},
        ),
    ],
)
def test_create_validation_messages(api_client, body, fields):
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == fields
    assert not Task.objects.exists()


def test_invalid_rrule_names_the_problem(api_client):
    response = api_client.post(
        URL, {"title": "t", "due_at": FUTURE, "recurrence_rule": "FREQ=SOMETIMES"}, format="json"
    )
    assert response.status_code == 400
    assert "SOMETIMES" in response.json()["error"]["fields"]["recurrence_rule"][0]


def test_every_bad_field_is_reported_at_once(api_client):
    response = api_client.post(URL, {"title": "", "priority": "x", "timezone": "x"}, format="json")
    assert set(response.json()["error"]["fields"]) == {"title", "priority", "timezone"}


def test_clearing_due_at_of_a_recurring_task_is_refused(api_client):
    task = api_client.post(URL, {"title": "t", "due_at": FUTURE, "recurrence_rule": "weekly"}, format="json").json()
    response = api_client.patch(f"{URL}{task['id']}/", {"due_at": None}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "due_at": ["A recurrence rule needs due_at: set due_at too (the first occurrence)."]
    }


def test_clearing_due_at_with_relative_reminders_is_refused(api_client):
    task = api_client.post(
        URL, {"title": "t", "due_at": FUTURE, "reminders": [{"offset_minutes": 5}]}, format="json"
    ).json()
    response = api_client.patch(f"{URL}{task['id']}/", {"due_at": None}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "reminders": ["A reminder with offset_minutes needs due_at on the task."]
    }


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        123,
        {"title": "a\u0000b"},
        {"title": {"nested": 1}},
        {"title": ["t"]},
        {"title": "t", "reminders": "soon"},
        {"title": "t", "reminders": [1]},
        {"title": "t", "due_at": "0001-01-01T00:00:00+14:00"},
        {"title": "t", "due_at": FUTURE, "recurrence_rule": "FREQ=DAILY;INTERVAL=99999999999999999999"},
        {"title": "t", "due_at": FUTURE, "recurrence_rule": "FREQ=DAILY;UNTIL=99999999T000000Z"},
        {"title": "t", "timezone": None},
    ],
)
def test_odd_input_is_a_4xx_never_a_500(api_client, body):
    response = api_client.post(URL, body, format="json")
    assert 400 <= response.status_code < 500, response.content


def test_due_at_with_an_offset_postgres_cannot_store_is_kept_as_its_instant(api_client):
    response = api_client.post(URL, {"title": "t", "due_at": "2026-12-01T09:00:00+23:30"}, format="json")
    assert response.status_code == 201
    assert response.json()["due_at"] == "2026-11-30T09:30:00Z"
