"""Turning consumed records into rows: pure logic, no services needed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from audit_app.ingest import degraded, record_id, record_to_row
from audit_app.tests.factories import make_event, make_record
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.records import ConsumedRecord


def test_task_id_comes_from_the_task_in_data_even_when_the_subject_is_another_aggregate() -> None:
    task_id, reminder_id = uuid.uuid4(), uuid.uuid4()
    event = CloudEvent(
        type="reminder.due",
        source="/reminders",
        subject=str(reminder_id),
        userid="3",
        data={"reminder": {"id": str(reminder_id)}, "task": {"id": str(task_id)}},
    )
    record = make_record(event, topic="reminders")

    assert record_to_row(record).task_id == task_id


def test_task_id_falls_back_to_the_record_key_then_none() -> None:
    task_id = uuid.uuid4()
    keyed = ConsumedRecord("reminders", 1, 5, str(task_id).encode(), {}, b"x", None, None, "bad")
    unkeyed = ConsumedRecord("reminders", 1, 6, b"\xff", {}, b"x", None, None, "bad")

    assert record_to_row(keyed).task_id == task_id
    assert record_to_row(unkeyed).task_id is None


def test_record_ids_are_stable_per_kafka_record_and_distinct_across_records() -> None:
    first = make_record(None, value=b"junk", offset=10)
    again = make_record(None, value=b"other junk", offset=10)
    later = make_record(None, value=b"junk", offset=11)

    assert record_id(first) == record_id(again) != record_id(later)


def test_headers_are_kept_for_dead_letters_and_invalid_records_only() -> None:
    event = make_event()
    dlq_headers = {"error": "boom", "attempts": "5"}

    assert record_to_row(make_record(event)).headers is None
    assert json.loads(record_to_row(make_record(event, topic="task-events.dlq", headers=dlq_headers)).headers) == (
        dlq_headers
    )
    assert json.loads(record_to_row(make_record(None, value=b"?", headers={"h": "v"})).headers) == {"h": "v"}


def test_invalid_record_without_timestamp_is_dated_now() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    record = ConsumedRecord("task-events", 0, 1, None, {}, None, None, None, "the record has no value")

    row = record_to_row(record, now=now)

    assert (row.occurred_at, row.error, row.envelope, row.raw_value) == (now, "the record has no value", None, None)


def test_nul_characters_never_reach_postgresql_text() -> None:
    event = make_event(correlation_id="req\x00-1")

    row = record_to_row(make_record(event))

    assert row.correlation_id == "req-1"
    assert "\\u0000" not in row.envelope


def test_degraded_row_keeps_the_original_bytes_and_says_why() -> None:
    row = record_to_row(make_record(make_event(type="task.\u00e9vent")))

    reduced = degraded(row, "refused")

    assert reduced.event_type == "task.\\xe9vent"
    assert reduced.envelope is None
    assert reduced.raw_value == row.envelope.encode()
    assert reduced.error == "stored degraded: refused"


def test_an_invalid_event_keeps_what_its_value_still_says_but_not_its_claimed_id() -> None:
    task_id = uuid.uuid4()
    document = {
        "id": str(uuid.uuid4()),
        "type": "task.exploded",
        "userid": "9",
        "correlationid": "req-7",
        "data": {"task": {"id": str(task_id)}},
    }
    record = make_record(None, value=json.dumps(document).encode(), error="unknown event type")

    row = record_to_row(record)

    assert (row.event_type, row.user_id, row.correlation_id, row.task_id) == ("task.exploded", "9", "req-7", task_id)
    assert row.event_id == record_id(record) != uuid.UUID(document["id"])
    assert row.error == "unknown event type"


def test_a_valid_event_is_stored_as_its_own_text_without_parsing_it_again(monkeypatch) -> None:
    event = make_event()
    record = make_record(event, value=event.to_json().replace(b'{"', b'{ "', 1))  # its own spacing

    def parse_again(*args: object, **kwargs: object) -> object:
        raise AssertionError("the runner parsed this value already")

    monkeypatch.setattr("audit_app.ingest.json.loads", parse_again)
    row = record_to_row(record)

    assert row.envelope == record.value.decode()
