"""The JSON representation of tasks and reminders (DESIGN.md section 4).

One function per aggregate, used by the REST API, by the domain signals (and so by every event on
Kafka) and by the WebSocket snapshots, so all of them show the same thing. `due_at` and reminder
times are rendered in the task's own time zone (what the user thinks in); the bookkeeping
timestamps in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from recurrence_rules.rules import describe_rule
from tasks_app.models import Reminder, Task


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):  # a stored name is validated; this only guards old rows
        return ZoneInfo("UTC")


def isoformat(value: datetime | None, zone: ZoneInfo | None = None) -> str | None:
    """ISO 8601 with offset; UTC as `Z` (as DRF renders it)."""
    if value is None:
        return None
    value = value.astimezone(zone or ZoneInfo("UTC"))
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _describe(rule: str) -> str:
    if not rule:
        return ""
    try:
        return describe_rule(rule)
    except (ValueError, ArithmeticError, TypeError, LookupError):  # a stored rule was validated; be safe
        return rule


def _sorted_reminders(reminders: Iterable[Reminder]) -> list[Reminder]:
    return sorted(reminders, key=lambda r: (r.remind_at, str(r.id)))


def reminder_representation(reminder: Reminder, *, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """`{"id", "task_id", "remind_at", "offset_minutes", "status", "fired_at", "late"}`, as the
    reminder signals and events carry it."""
    if zone is None:
        zone = _zone(reminder.task.timezone)
    return {
        "id": str(reminder.id),
        "task_id": str(reminder.task_id),
        "remind_at": isoformat(reminder.remind_at, zone),
        "offset_minutes": reminder.offset_minutes,
        "status": reminder.status,
        "fired_at": isoformat(reminder.fired_at),
        "late": reminder.late,
    }


def task_representation(
    task: Task, *, tags: Iterable[str] | None = None, reminders: Iterable[Reminder] | None = None
) -> dict[str, Any]:
    """The task as the API shows it, JSON-ready (strings, numbers, lists, None only).

    Its tag names and reminders are read from the task (its prefetch caches if filled, a query
    otherwise) unless given (`selectors.task_relations`, for a page of tasks)."""
    zone = _zone(task.timezone)
    if tags is None:
        tags = (tag.name for tag in task.tags.all())
    if reminders is None:
        reminders = task.reminders.all()
    return {
        "id": str(task.id),
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "tags": sorted(tags),
        "due_at": isoformat(task.due_at, zone),
        "timezone": task.timezone,
        "recurrence_rule": task.recurrence_rule,
        "recurrence_mode": task.recurrence_mode,
        "recurrence_text": _describe(task.recurrence_rule),
        "series_id": str(task.series_id) if task.series_id else None,
        "completed_at": isoformat(task.completed_at),
        "reminders": [
            {
                "id": str(reminder.id),
                "remind_at": isoformat(reminder.remind_at, zone),
                "offset_minutes": reminder.offset_minutes,
                "status": reminder.status,
            }
            for reminder in _sorted_reminders(reminders)
        ],
        "created_at": isoformat(task.created_at),
        "updated_at": isoformat(task.updated_at),
        "version": task.version,
    }
