"""The payload (`data`) models of tasks_app's events: task.* and reminder.scheduled/cancelled/due.

The task and reminder objects are the REST representations (DESIGN.md section 4), built by
`tasks_app.representations`; they may grow new keys without breaking consumers.
"""

from __future__ import annotations

from pydantic import Field

from core.domain_events.fields import (
    Bool,
    Int,
    JSONValue,
    NullableInt,
    NullableStr,
    NullableTimestamp,
    NullableUUIDStr,
    OpenPayload,
    Payload,
    Str,
    Timestamp,
    UUIDStr,
    choice,
    optional,
)

TaskStatusValue = choice("open", "completed")
PriorityValue = choice("low", "medium", "high", "urgent")
RecurrenceModeValue = choice("schedule", "completion", nullable=True)


class TaskReminderRef(OpenPayload):
    """A reminder as the task representation lists it."""

    id: UUIDStr


class TaskRepresentation(OpenPayload):
    """The REST representation of a task (DESIGN.md section 4)."""

    id: UUIDStr
    title: Str
    description: Str
    status: TaskStatusValue
    priority: PriorityValue
    tags: list[Str]
    due_at: NullableTimestamp
    timezone: Str
    recurrence_rule: NullableStr
    recurrence_mode: RecurrenceModeValue
    series_id: NullableUUIDStr
    completed_at: NullableTimestamp
    reminders: list[TaskReminderRef]
    created_at: Timestamp
    updated_at: Timestamp
    version: Int
    recurrence_text: NullableStr = optional("the recurrence rule in words")


class FieldChange(Payload):
    """One changed field of a task.updated: its value before and after."""

    old: JSONValue
    new: JSONValue


class TaskEventData(Payload):
    """task.created, task.updated, task.completed, task.reopened, task.deleted."""

    task: TaskRepresentation = Field(description="the task after the change (for task.deleted: the last one)")
    changes: dict[str, FieldChange] = Field(description="{field: {old, new}}; empty except for task.updated")


class ReminderRepresentation(OpenPayload):
    """The representation of a reminder."""

    id: UUIDStr
    task_id: UUIDStr
    remind_at: Timestamp
    offset_minutes: NullableInt
    status: Str
    fired_at: NullableTimestamp = optional()
    late: Bool = optional("fired more than REMINDER_LATE_AFTER_SECONDS after remind_at")


class ReminderEventData(Payload):
    """reminder.scheduled, reminder.cancelled, reminder.due."""

    reminder: ReminderRepresentation
    task: TaskRepresentation
