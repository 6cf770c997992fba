"""A task's shape is built by one function, `task_representation`: the REST body, the events'
`data.task` and the output serializer (which only documents it in the schema) all come from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks_app.representations import task_representation
from tasks_app.serializers import ReminderOutputSerializer, TaskOutputSerializer
from tasks_app.services import task_create

pytestmark = pytest.mark.django_db


def recurring(user: Any) -> Any:
    return task_create(
        owner=user,
        title="Standup",
        tags=["work"],
        due_at=datetime(2030, 3, 2, 9, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        recurrence_rule="weekdays",
        reminders=[{"offset_minutes": 15}],
    )


def test_the_output_serializer_renders_the_representation(user: Any) -> None:
    task = recurring(user)
    assert TaskOutputSerializer(task).data == task_representation(task)


def test_the_documented_fields_are_the_representations_keys_in_order(user: Any) -> None:
    representation = task_representation(recurring(user))
    assert list(TaskOutputSerializer().fields) == list(representation)
    assert list(ReminderOutputSerializer().fields) == list(representation["reminders"][0])


def test_the_rest_body_and_the_events_task_are_the_representation(user: Any, api_client: Any, sent: Any) -> None:
    task = recurring(user)
    body = api_client.get(f"/api/v1/tasks/{task.id}/").json()
    assert body == task_representation(task)
    sent.clear()
    api_client.patch(f"/api/v1/tasks/{task.id}/", {"title": "Daily standup"}, format="json")
    task.refresh_from_db()
    assert sent.of("task_updated")[0]["task"] == task_representation(task)
