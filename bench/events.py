"""Realistic task events for the scenarios that feed Kafka directly (same shape as the relay's)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from kafka_bridge.envelope import CloudEvent
from tasks_app.event_payloads import TaskEventData, TaskReminderRef, TaskRepresentation


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def task_representation(*, task_id: str, title: str) -> dict[str, Any]:
    """A task as the REST API shows it (DESIGN.md section 4): one tag, one reminder; built
    through the event's payload model, so the bench stays within the contract."""
    now = _now()
    return TaskRepresentation(
        id=task_id,
        title=title,
        description="Quarterly report: collect the figures from finance and draft the summary.",
        status="open",
        priority="high",
        tags=["work"],
        due_at="2031-03-03T09:00:00+01:00",
        timezone="Europe/Berlin",
        recurrence_rule="",
        recurrence_mode="schedule",
        recurrence_text="",
        series_id=None,
        completed_at=None,
        reminders=[
            TaskReminderRef(
                id=str(uuid.uuid4()),
                remind_at="2031-03-03T08:30:00+01:00",
                offset_minutes=30,
                status="scheduled",
            )
        ],
        created_at=now,
        updated_at=now,
        version=2,
    ).model_dump()


def task_updated(*, user_id: int, title: str, task_id: str | None = None) -> CloudEvent:
    task_id = task_id or str(uuid.uuid4())
    data = TaskEventData.model_validate(
        {
            "task": task_representation(task_id=task_id, title=title),
            "changes": {"title": {"old": "Quarterly report", "new": title}},
        }
    )
    return CloudEvent(
        type="task.updated",
        source="/tasks",
        subject=task_id,
        userid=str(user_id),
        correlationid=uuid.uuid4().hex,
        data=data.model_dump(),
    )


def record_headers(event: CloudEvent) -> list[tuple[str, bytes]]:
    """The headers the relay sets (kafka_bridge.receivers.outbox_rows)."""
    headers = [("ce_id", event.id.encode()), ("ce_type", event.type.encode())]
    if event.correlationid:
        headers.append(("correlation_id", event.correlationid.encode()))
    return headers
