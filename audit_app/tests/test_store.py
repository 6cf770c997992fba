"""Storing consumed records: deduplication, mixed batches, values PostgreSQL refuses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit_app.ingest import record_id
from audit_app.models import AuditLog
from audit_app.services import audit_records_store
from audit_app.tests.factories import make_event, make_record

pytestmark = pytest.mark.django_db


def test_same_event_delivered_twice_is_stored_once() -> None:
    event = make_event()
    first = audit_records_store(records=[make_record(event), make_record(event)])
    again = audit_records_store(records=[make_record(event)])

    assert (first, again) == (1, 0)
    assert AuditLog.objects.filter(event_id=event.id).count() == 1


def test_a_redelivered_batch_adds_only_its_new_events() -> None:
    stored = [make_event() for _ in range(3)]
    fresh = [make_event() for _ in range(2)]
    audit_records_store(records=[make_record(event) for event in stored])

    # After a crash the batch comes again, with records that were not in it the first time.
    added = audit_records_store(records=[make_record(event) for event in [*stored, *fresh]])

    assert added == 2
    assert AuditLog.objects.count() == 5
    assert AuditLog.objects.filter(event_id__in=[event.id for event in fresh]).count() == 2


def test_same_event_on_two_topics_keeps_one_row_per_topic() -> None:
    event = make_event()
    audit_records_store(records=[make_record(event, topic="task-events"), make_record(event, topic="task-updates")])

    assert sorted(AuditLog.objects.filter(event_id=event.id).values_list("topic", flat=True)) == [
        "task-events",
        "task-updates",
    ]


def test_event_row_holds_every_field_and_the_envelope_as_received() -> None:
    task_id = uuid.uuid4()
    event = make_event(type="task.updated", user_id=42, task_id=task_id, correlation_id="req-9")
    record = make_record(event, topic="task-updates", offset=77)
    audit_records_store(records=[record])

    row = AuditLog.objects.get(event_id=event.id)
    assert (row.topic, row.kafka_partition, row.kafka_offset) == ("task-updates", 0, 77)
    assert (row.event_type, row.user_id, row.task_id, row.correlation_id) == ("task.updated", "42", task_id, "req-9")
    assert row.occurred_at == record.event.time
    assert abs(row.received_at - datetime.now(UTC)) < timedelta(seconds=30)
    assert row.envelope == json.loads(record.value)
    assert (row.headers, row.raw_value, row.error) == (None, None, None)


def test_mixed_batch_of_events_dead_letters_and_garbage_is_stored_whole() -> None:
    good = make_event(type="task.completed")
    dead = make_event(type="reminder.due")
    dlq_headers = {"error": "boom", "handler": "notifications", "attempts": "5", "failed_at": "2026-11-28T10:00:00Z"}
    not_json = make_record(None, topic="reminders", value=b"\xff\xfe not json", error="the record value is not JSON")
    not_event = make_record(None, topic="task-events", value=b'{"hello": "world"}', error="unknown envelope fields")
    dead_garbage = make_record(None, topic="task-events.dlq", value=b"???", headers={"error": "not an event"})
    no_value = make_record(None, topic="task-updates", value=None, error="the record has no value")
    batch = [
        make_record(good),
        make_record(dead, topic="reminders.dlq", headers=dlq_headers),
        not_json,
        not_event,
        dead_garbage,
        no_value,
    ]

    assert audit_records_store(records=batch) == 6

    dlq_row = AuditLog.objects.get(event_id=dead.id)
    assert (dlq_row.topic, dlq_row.event_type, dlq_row.error) == ("reminders.dlq", "reminder.due", "boom")
    assert dlq_row.headers == dlq_headers
    row = AuditLog.objects.get(event_id=record_id(not_json))
    assert (row.event_type, row.envelope, bytes(row.raw_value)) == ("", None, b"\xff\xfe not json")
    assert row.error == "the record value is not JSON"
    row = AuditLog.objects.get(event_id=record_id(not_event))
    assert row.envelope == {"hello": "world"}
    assert AuditLog.objects.get(event_id=record_id(dead_garbage)).error == "not an event"
    assert AuditLog.objects.get(event_id=record_id(no_value)).raw_value is None


def test_garbage_record_redelivered_is_stored_once() -> None:
    record = make_record(None, value=b"garbage", error="not JSON")
    audit_records_store(records=[record])
    audit_records_store(records=[record])

    assert AuditLog.objects.filter(event_id=record_id(record)).count() == 1


def test_values_postgresql_refuses_are_stored_degraded_without_losing_the_batch() -> None:
    good = make_event()
    nul_escape = make_record(None, value=b'{"a": "\\u0000"}', error="unknown envelope fields")
    lone_surrogate = make_record(None, value=b'{"a": "\\ud800"}', error="unknown envelope fields")
    # The runner's strict JSON parsing refuses lone surrogates, so only a record that failed
    # decoding carries one to the store: its loose fields still name the type.
    odd_type = make_record(None, value=b'{"type": "task.\\ud800created"}', error="the record value is not JSON")

    stored = audit_records_store(records=[make_record(good), nul_escape, lone_surrogate, odd_type])

    assert stored == 4
    assert AuditLog.objects.get(event_id=record_id(nul_escape)).envelope is None
    assert bytes(AuditLog.objects.get(event_id=record_id(lone_surrogate)).raw_value) == b'{"a": "\\ud800"}'
    degraded = AuditLog.objects.get(event_id=record_id(odd_type))
    assert degraded.event_type == "task.\\ud800created"
    assert "stored degraded" in degraded.error
    assert AuditLog.objects.filter(event_id=good.id).exists()


def test_empty_batch_stores_nothing() -> None:
    assert audit_records_store(records=[]) == 0
