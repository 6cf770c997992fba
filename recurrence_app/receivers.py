"""Series state follows each task write: receivers of tasks_app's domain signals, run inside the write's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from recurrence_app.services import series_follow_task
from tasks_app import signals


def _follow(task_id: uuid.UUID, user_id: int, task: dict[str, Any], changed: Any) -> None:
    series_id = task.get("series_id")
    if series_id is None:
        return
    due_at = task.get("due_at")
    series_follow_task(
        task_id=task_id,
        owner_id=user_id,
        series_id=uuid.UUID(series_id),
        rule=task.get("recurrence_rule") or "",
        due_at=datetime.fromisoformat(due_at) if due_at else None,
        changed=changed,
    )


def on_task_created(sender: Any, *, task_id: uuid.UUID, user_id: int, task: dict[str, Any], **kwargs: Any) -> None:
    """A recurring task starts its series, or joins it (a generated occurrence)."""
    _follow(task_id, user_id, task, changed=task.keys())


def on_task_updated(
    sender: Any, *, task_id: uuid.UUID, user_id: int, task: dict[str, Any], changes: dict[str, Any], **kwargs: Any
) -> None:
    """A first rule starts a series; a rule, mode or time zone change on the newest occurrence steers it."""
    _follow(task_id, user_id, task, changed=changes.keys())


def connect() -> None:
    """Called once by `RecurrenceAppConfig.ready`."""
    signals.task_created.connect(on_task_created, dispatch_uid="recurrence_app.task_created")
    signals.task_updated.connect(on_task_updated, dispatch_uid="recurrence_app.task_updated")
