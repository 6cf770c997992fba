"""tasks_app's event routes: which of its signals becomes which event, on which topics, with which payload.

Read by the outbox writer, the consumers' validation and the AsyncAPI document
(`core.domain_events.event_routes`).
"""

from __future__ import annotations

from typing import Any

from core.domain_events import EventRoute, Topic
from tasks_app import signals
from tasks_app.event_payloads import ReminderEventData, TaskEventData

SOURCE = "/tasks"
TASK_TOPICS = (Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value)
REMINDER_TOPICS = (Topic.REMINDERS.value,)


def task_event_data(*, task: dict[str, Any], changes: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    return {"task": task, "changes": changes or {}}


def reminder_event_data(*, reminder: dict[str, Any], task: dict[str, Any], **_: Any) -> dict[str, Any]:
    return {"reminder": reminder, "task": task}


def _task_route(signal: Any, event_type: str, summary: str) -> EventRoute:
    return EventRoute(signal, event_type, SOURCE, TASK_TOPICS, task_event_data, TaskEventData, summary)


def _reminder_route(signal: Any, event_type: str, summary: str) -> EventRoute:
    return EventRoute(signal, event_type, SOURCE, REMINDER_TOPICS, reminder_event_data, ReminderEventData, summary)


ROUTES: tuple[EventRoute, ...] = (
    _task_route(signals.task_created, "task.created", "A task was created."),
    _task_route(signals.task_updated, "task.updated", "A task's fields changed (`changes` says which)."),
    _task_route(signals.task_completed, "task.completed", "A task was completed."),
    _task_route(signals.task_reopened, "task.reopened", "A completed task was reopened."),
    _task_route(signals.task_deleted, "task.deleted", "A task was deleted (`task` is its last representation)."),
    _reminder_route(signals.reminder_scheduled, "reminder.scheduled", "A reminder was scheduled or moved."),
    _reminder_route(signals.reminder_cancelled, "reminder.cancelled", "A reminder was cancelled."),
    _reminder_route(signals.reminder_due, "reminder.due", "A reminder's time came: it fired (`late` if overdue)."),
)
