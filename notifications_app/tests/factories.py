"""Test data: tasks with reminders through tasks_app's services, notifications through ours."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from notifications_app.models import Notification
from notifications_app.services.batch_creation import notification_create_for_reminder


def task_payload(**overrides: Any) -> dict[str, Any]:
    task = {
        "id": str(uuid.uuid4()),
        "title": "Pay rent",
        "description": "",
        "status": "open",
        "priority": "high",
        "tags": ["home"],
        "due_at": "2026-12-01T08:00:00Z",
        "timezone": "Europe/Berlin",
        "recurrence_rule": "",
        "recurrence_mode": "schedule",
        "series_id": None,
        "completed_at": None,
        "reminders": [],
        "created_at": "2026-11-28T10:00:00Z",
        "updated_at": "2026-11-28T10:00:00Z",
        "version": 1,
    }
    task.update(overrides)
    return task


def reminder_payload(task: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    reminder = {
        "id": str(uuid.uuid4()),
        "task_id": task["id"],
        "remind_at": "2026-12-01T07:30:00Z",
        "offset_minutes": 30,
        "status": "fired",
        "fired_at": "2026-12-01T07:30:00.300Z",
        "late": False,
    }
    reminder.update(overrides)
    return reminder


def make_notification(user: Any, **task_overrides: Any) -> Notification:
    task = task_payload(**task_overrides)
    notification, _ = notification_create_for_reminder(user_id=user.pk, task=task, reminder=reminder_payload(task))
    return notification


def make_task_with_reminders(owner: Any, *remind_at: datetime, title: str = "Pay rent", **fields: Any) -> Any:
    from tasks_app.services import task_create

    due_at = fields.pop("due_at", max(remind_at, default=timezone.now()) + timedelta(hours=1))
    return task_create(
        owner=owner,
        title=title,
        due_at=due_at,
        timezone=fields.pop("timezone", "Europe/Berlin"),
        reminders=[{"remind_at": moment} for moment in remind_at],
        **fields,
    )
