"""A task's audit trail in the order its changes were written, whatever order the records arrive
in: entries are ordered by (occurred_at, sequence, id), and the events of one change, which share
their instant, by the CloudEvents `sequence` the outbox gave them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audit_app.ingest import record_to_row
from audit_app.models import AuditLog
from audit_app.services import audit_records_store
from audit_app.tests.factories import make_event, make_record
from kafka_bridge import envelope
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.schemas import decode_event
from tasks_app.services import task_create

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 28, 15, 4, 5, 123000, tzinfo=UTC)


class _OneInstant(datetime):
    """The clock of one change written within one millisecond (as most are)."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        return MOMENT


def published_records(task_id: Any) -> list[ConsumedRecord]:
    """The task's outbox rows as the relay publishes them (the stored text), consumed."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT topic, key, value::text FROM "kafka_bridge_outboxevent" WHERE key = %s ORDER BY id',
            [str(task_id)],
        )
        rows = cursor.fetchall()
    return [
        ConsumedRecord(
            topic=topic,
            partition=0,
            offset=offset,
            key=key.encode(),
            headers={},
            value=value.encode(),
            timestamp=MOMENT,
            event=decode_event(value),
        )
        for offset, (topic, key, value) in enumerate(rows)
    ]


def trail(client: Any, task_id: Any) -> list[tuple[str, str]]:
    """(type, sequence) of the task's entries from the list API, newest first."""
    response = client.get("/api/v1/audit/", {"task": str(task_id)})
    assert response.status_code == 200, response.content
    return [(entry["type"], entry["envelope"]["sequence"]) for entry in response.json()["results"]]


def exported(client: Any, task_id: Any) -> list[tuple[str, str]]:
    """(type, sequence) of the task's entries from the export, oldest first."""
    response = client.get("/api/v1/audit/export/", {"task": str(task_id)})
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    return [(entry["type"], entry["envelope"]["sequence"]) for entry in lines]


def test_a_creates_events_are_in_the_trail_in_write_order_however_they_arrive(
    monkeypatch: pytest.MonkeyPatch, user: Any, api_client: Any
) -> None:
    monkeypatch.setattr(envelope, "datetime", _OneInstant)
    task = task_create(
        owner=user,
        title="Renew passport",
        due_at=timezone.now() + timedelta(days=3),
        reminders=[{"offset_minutes": 60}, {"offset_minutes": 30}],
    )
    records = published_records(task.id)
    assert {record.event.time for record in records} == {MOMENT}  # one instant: only sequence orders them
    written = [(record.event.type, record.event.sequence) for record in records]
    assert [event_type for event_type, _ in written] == [
        "task.created",  # on task-events
        "task.created",  # the same event on task-updates
        "reminder.scheduled",
        "reminder.scheduled",
    ]

    # Arrival in the opposite order (the reminders' topic read first): ids alone would reverse it.
    audit_records_store(records=records[::-1])
    assert list(AuditLog.objects.filter(task_id=task.id).order_by("id").values_list("event_type", flat=True)) != [
        event_type for event_type, _ in written
    ]

    assert trail(api_client, task.id) == written[::-1]
    assert exported(api_client, task.id) == written


def test_the_cursor_walks_entries_of_one_instant_in_sequence_order(api_client: Any, user: Any) -> None:
    events = [
        CloudEvent.from_dict({**make_event(user_id=user.pk, time=MOMENT).to_dict(), "sequence": f"{n:020d}"})
        for n in (30, 10, 20)
    ]
    audit_records_store(records=[make_record(event) for event in events])

    seen, url = [], "/api/v1/audit/?limit=1"
    while url:
        page = api_client.get(url).json()
        seen += [int(entry["envelope"]["sequence"]) for entry in page["results"]]
        url = page["next"]

    assert seen == [30, 20, 10]


def test_an_entry_stores_its_events_sequence_and_0_when_there_is_none() -> None:
    event = CloudEvent.from_dict({**make_event().to_dict(), "sequence": "00000000000000001234"})

    assert record_to_row(make_record(event)).sequence == 1234
    assert record_to_row(make_record(make_event())).sequence == 0
    claimed = json.dumps({**event.to_dict(), "type": "task.exploded"}).encode()
    assert record_to_row(make_record(None, value=claimed, error="unknown event type")).sequence == 0
