"""The Series admin is read-mostly; the handler and the beat job are registered where the
runner and Celery look for them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kafka_bridge.registry import handlers_for
from recurrence_app.kafka_handlers import handle_task_completed
from recurrence_app.models import Series
from recurrence_app.schedules import BEAT_SCHEDULE
from tasks_app import services as task_services


@pytest.mark.django_db
def test_staff_see_series_and_can_stop_one_but_not_edit_or_delete(make_user: Any, user: Any) -> None:
    task = task_services.task_create(owner=user, title="gym", due_at=timezone.now(), recurrence_rule="weekdays")
    staff = make_user("admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)

    listing = client.get("/admin/recurrence_app/series/")
    assert listing.status_code == 200
    assert "every weekday" in listing.content.decode()
    assert client.get(f"/admin/recurrence_app/series/{task.series_id}/change/").status_code == 200
    assert client.get("/admin/recurrence_app/series/add/").status_code == 403

    response = client.post(
        "/admin/recurrence_app/series/",
        {"action": "stop_series", "_selected_action": [str(task.series_id)]},
    )
    assert response.status_code == 302
    series = Series.objects.get(pk=task.series_id)
    assert (series.ended, series.end_reason) == (True, "stopped_by_staff")


def test_the_handler_and_the_catch_up_schedule_are_registered() -> None:
    assert handle_task_completed in handlers_for("recurrence", "task.completed")
    assert BEAT_SCHEDULE["recurrence-catch-up"]["task"] == "recurrence_app.tasks.recurrence_catch_up_task"
