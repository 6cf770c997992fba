"""Building consumed records and audit rows for tests."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from audit_app.services import audit_records_store
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.records import ConsumedRecord

_offsets = itertools.count(1)


def make_event(
    *,
    type: str = "task.created",
    user_id: Any = 1,
    task_id: uuid.UUID | None = None,
    time: datetime | None = None,
    correlation_id: str | None = "req-1",
    event_id: str | None = None,
) -> CloudEvent:
    task_id = task_id or uuid.uuid4()
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        type=type,
        source="/tasks",
        subject=str(task_id),
        userid=str(user_id),
        correlationid=correlation_id,
        time=time or datetime.now(UTC),
        data={"task": {"id": str(task_id), "title": "Buy milk"}, "changes": {}},
    )


def make_record(
    event: CloudEvent | None = None,
    *,
    topic: str = "task-events",
    value: bytes | None = None,
    headers: dict[str, str] | None = None,
    offset: int | None = None,
    timestamp: datetime | None = None,
    error: str | None = None,
) -> ConsumedRecord:
    if value is None and event is not None:
        value = event.to_json()
    if event is not None:
        # As the runner hands it over: decoded from the record value (millisecond times).
        event = CloudEvent.from_json(event.to_json())
    return ConsumedRecord(
        topic=topic,
        partition=0,
        offset=next(_offsets) if offset is None else offset,
        key=event.subject.encode() if event is not None else None,
        headers=headers or ({"ce_type": event.type, "ce_id": event.id} if event is not None else {}),
        value=value,
        timestamp=timestamp or datetime.now(UTC),
        event=event,
        error=error,
    )


def store_events(*events: CloudEvent, topic: str = "task-events") -> None:
    audit_records_store(records=[make_record(event, topic=topic) for event in events])


def garbage_value() -> bytes:
    return json.dumps({"hello": "world"}).encode()
