"""Building consumed records and audit rows for tests."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import connection

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


def analyse_production_like_rows(rows: int = 30_000) -> None:
    """Rows over every partition of the log (and the default one) shaped as a deployment's, then
    ANALYZE, in the caller's transaction: plan checks then see the same statistics whatever other
    tests committed and whenever autovacuum analysed it. Many users, a few events per task, one
    correlation id per request, a completion in fifty events, a dead letter in a hundred."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(substring(c.relname from 'p(\\d{8})$')), max(substring(c.relname from 'p(\\d{8})$'))"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_log'::regclass"
        )
        first, last = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO audit_log (event_id, topic, kafka_partition, kafka_offset, event_type, user_id,
                                   task_id, correlation_id, occurred_at, sequence, received_at)
            SELECT gen_random_uuid(),
                   CASE WHEN i %% 100 = 0 THEN 'reminders.dlq' ELSE 'task-events' END,
                   0, i,
                   CASE WHEN i %% 50 = 0 THEN 'task.completed' ELSE 'task.updated' END,
                   (i %% 500)::text,
                   md5((i / 3)::text)::uuid,
                   'req-' || (i / 2),
                   span.since + (span.until - span.since) * (i::float8 / %(rows)s),
                   i, now()
            FROM generate_series(1, %(rows)s) AS i,
                 (SELECT to_date(%(first)s, 'YYYYMMDD')::timestamptz - interval '2 days' AS since,
                         to_date(%(last)s, 'YYYYMMDD')::timestamptz + interval '3 days' AS until) AS span
            """,
            {"rows": rows, "first": first, "last": last},
        )
        cursor.execute("ANALYZE audit_log")
