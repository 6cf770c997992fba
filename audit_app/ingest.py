"""Turning consumed Kafka records into audit rows (pure: no database, unit-tested on its own).

What is stored for each kind of record is documented on `audit_app.models.AuditLog`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kafka_bridge.records import ConsumedRecord
from kafka_bridge.topics import DLQ_SUFFIX

# Namespace of the ids derived for records that carry no usable event id.
RECORD_ID_NAMESPACE = uuid.UUID("6f1d3c1e-5f8a-4c4e-9a55-0d1f7b2a9e31")


@dataclass(frozen=True)
class AuditRow:
    """One row of `audit_log`, in column order of `COLUMNS` (received_at is the database's now())."""

    event_id: uuid.UUID
    topic: str
    kafka_partition: int
    kafka_offset: int
    event_type: str
    user_id: str
    task_id: uuid.UUID | None
    correlation_id: str | None
    occurred_at: datetime
    sequence: int  # the envelope's `sequence`; 0 without one
    envelope: str | None  # JSON text, cast to jsonb by the database
    headers: str | None  # JSON text
    raw_value: bytes | None
    error: str | None


COLUMNS = (
    "event_id",
    "topic",
    "kafka_partition",
    "kafka_offset",
    "event_type",
    "user_id",
    "task_id",
    "correlation_id",
    "occurred_at",
    "sequence",
    "envelope",
    "headers",
    "raw_value",
    "error",
)


def record_id(record: ConsumedRecord) -> uuid.UUID:
    """A stable id for a record that is not an event: the same Kafka record always maps to it."""
    return uuid.uuid5(RECORD_ID_NAMESPACE, f"{record.topic}/{record.partition}/{record.offset}")


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL characters.
    return value.replace("\x00", "") if value is not None else None


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _json_text(value: bytes | None) -> str | None:
    """The value as JSON text if it is JSON that PostgreSQL's jsonb can hold, else None."""
    if value is None or b"\\u0000" in value:  # jsonb rejects the NUL escape
        return None
    try:
        text = value.decode()
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return text


def _event_json_text(record: ConsumedRecord) -> str:
    """The JSON text of a record that decoded as a valid event. Its value was parsed already (the
    runner decodes every record once): only jsonb's own limit is checked here, not the JSON again
    (re-parsing it was an eighth of the audit consumer's time)."""
    value = record.value
    if value is not None and b"\\u0000" not in value:
        try:
            return value.decode()
        except UnicodeDecodeError:
            pass
    assert record.event is not None
    return json.dumps(record.event.to_dict(), default=str).replace("\\u0000", "")


def _loose_document(value: bytes | None) -> dict[str, Any]:
    """The value as a JSON object, or {}: what a record that failed validation still tells."""
    try:
        document = json.loads(value) if value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _loose_text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return _text(value)[:255] if isinstance(value, str) else None


def _task_id(record: ConsumedRecord, document: dict[str, Any] | None = None) -> uuid.UUID | None:
    """The task the record is about: data.task.id, else the record key (the aggregate id by
    contract), else the subject of a task.* event. `document` stands in for an invalid event."""
    event = record.event
    data = event.data if event is not None else (document or {}).get("data")
    task = data.get("task") if isinstance(data, dict) else None
    if isinstance(task, dict) and (task_id := _uuid(task.get("id"))):
        return task_id
    if task_id := _uuid(record.key):
        return task_id
    if event is not None and event.type.startswith("task."):
        return _uuid(event.subject)
    return None


def _sequence(value: str | None) -> int:
    """The envelope's `sequence` as stored; 0 without one. The schema admits only a bigint's
    digits (kafka_bridge.schemas); anything else is 0 here, so that this step never raises."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 20:
        return 0
    number = int(value)
    return number if number < 2**63 else 0


def _headers(record: ConsumedRecord) -> str | None:
    keep = record.event is None or record.topic.endswith(DLQ_SUFFIX)
    if not keep or not record.headers:
        return None
    return json.dumps({_text(str(k)): _text(str(v)) for k, v in record.headers.items()})


def record_to_row(record: ConsumedRecord, *, now: datetime | None = None) -> AuditRow:
    """The row for one record. Never raises for any record content."""
    event = record.event
    if event is not None:
        return AuditRow(
            event_id=uuid.UUID(event.id),
            topic=record.topic,
            kafka_partition=record.partition,
            kafka_offset=record.offset,
            event_type=_text(event.type) or "",
            user_id=_text(event.userid) or "",
            task_id=_task_id(record),
            correlation_id=_text(event.correlationid),
            occurred_at=event.time,
            sequence=_sequence(event.sequence),
            envelope=_event_json_text(record),
            headers=_headers(record),
            raw_value=None,
            error=_text(record.headers.get("error")) if record.topic.endswith(DLQ_SUFFIX) else None,
        )
    # Not a valid event: keep what the value still says (type, user, correlation id) so filters
    # find it, but identify and order it by its Kafka coordinates and timestamp, never by an id
    # or a sequence it merely claims.
    document = _loose_document(record.value)
    return AuditRow(
        event_id=record_id(record),
        topic=record.topic,
        kafka_partition=record.partition,
        kafka_offset=record.offset,
        event_type=_loose_text(document, "type") or "",
        user_id=_loose_text(document, "userid") or "",
        task_id=_task_id(record, document),
        correlation_id=_loose_text(document, "correlationid"),
        occurred_at=record.timestamp or now or datetime.now(UTC),
        sequence=0,
        envelope=_json_text(record.value),
        headers=_headers(record),
        raw_value=record.value,
        error=_text(record.error or record.headers.get("error") or "the record value is not a CloudEvent"),
    )


def degraded(row: AuditRow, reason: str) -> AuditRow:
    """A row the database refused (e.g. characters PostgreSQL cannot store), reduced to what it
    always accepts: ASCII text, no JSON; the raw bytes keep the original value."""

    def ascii_text(value: str | None) -> str | None:
        return value.encode("ascii", "backslashreplace").decode() if value is not None else None

    return replace(
        row,
        topic=ascii_text(row.topic) or "",
        event_type=ascii_text(row.event_type) or "",
        user_id=ascii_text(row.user_id) or "",
        correlation_id=ascii_text(row.correlation_id),
        envelope=None,
        headers=None,
        raw_value=row.raw_value if row.raw_value is not None else (row.envelope or "").encode("utf-8", "replace"),
        error=ascii_text(f"{row.error + '; ' if row.error else ''}stored degraded: {reason}"),
    )
