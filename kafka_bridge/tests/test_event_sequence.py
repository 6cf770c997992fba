"""The CloudEvents `sequence` of every event the outbox writes: the id of the event's first outbox
row, in 20 zero-padded digits, inside the stored value that the relay publishes as it is."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.domain_events import outbox_batch
from kafka_bridge.envelope import CloudEvent, InvalidEvent
from kafka_bridge.models import OutboxEvent
from kafka_bridge.receivers import outbox_rows, record_event
from kafka_bridge.schemas import decode_event, validate_event
from kafka_bridge.tests.kafka_helpers import task_representation
from tasks_app.events import REMINDER_TOPICS, TASK_TOPICS
from tasks_app.services import task_create


def _event(n: int, **fields: object) -> CloudEvent:
    return CloudEvent(type="task.updated", source="/tasks", subject=f"task-{n}", userid="7", data={"n": n}, **fields)


def stored_texts() -> list[tuple[int, str, str]]:
    """(id, event id, value as the relay reads it) of every outbox row, in id order."""
    with connection.cursor() as cursor:
        cursor.execute('SELECT id, event_id::text, value::text FROM "kafka_bridge_outboxevent" ORDER BY id')
        return cursor.fetchall()


@pytest.mark.django_db
def test_each_events_stored_value_carries_its_first_rows_id_as_its_sequence() -> None:
    with outbox_batch():
        first = record_event(_event(1), TASK_TOPICS)  # two rows, one event
        second = record_event(_event(2), REMINDER_TOPICS)
    third = record_event(_event(3), TASK_TOPICS)  # a later change

    rows = stored_texts()
    assert [row_id for row_id, _, _ in rows] == [row.id for row in (*first, *second, *third)]
    sequences = {}
    for _, event_id, text in rows:
        assert text.startswith('{"sequence":"'), text
        sequences.setdefault(event_id, set()).add(json.loads(text)["sequence"])
    assert sequences == {
        first[0].event_id: {f"{first[0].id:020d}"},
        second[0].event_id: {f"{second[0].id:020d}"},
        third[0].event_id: {f"{third[0].id:020d}"},
    }
    # The rows in hand say what was stored; the copies of one event share one document.
    assert [row.value["sequence"] for row in (*first, *second, *third)] == [
        json.loads(text)["sequence"] for _, _, text in rows
    ]
    assert first[0].value is first[1].value


@pytest.mark.django_db
def test_a_creates_events_have_sequences_in_the_order_the_change_wrote_them(user) -> None:
    due = timezone.now() + timedelta(days=1)
    task = task_create(
        owner=user, title="Renew passport", due_at=due, reminders=[{"offset_minutes": 60}, {"offset_minutes": 30}]
    )

    rows = OutboxEvent.objects.filter(key=str(task.id)).order_by("id")
    written = [(row.event_type, row.topic, row.value["sequence"]) for row in rows]
    types = [event_type for event_type, _, _ in written]
    assert types == ["task.created", "task.created", "reminder.scheduled", "reminder.scheduled"]
    sequences = [sequence for _, _, sequence in written]
    assert sequences[0] == sequences[1] == f"{rows[0].id:020d}"  # one event on both task topics
    assert sequences[1] < sequences[2] < sequences[3]  # as strings, which compare as the numbers
    assert int(sequences[3]) == rows[3].id


@pytest.mark.django_db
def test_the_stored_value_is_a_valid_event_with_its_sequence() -> None:
    given = replace(_event_with_task(), sequence="00000000000000000001")
    [row, *_] = record_event(given, TASK_TOPICS)
    [(_, _, text), *_] = stored_texts()

    event = decode_event(text)  # what every consumer runs on the published record
    assert event.sequence == f"{row.id:020d}"  # the outbox's, not what the caller put there
    assert (event.id, event.data) == (given.id, given.data)


@pytest.mark.django_db
def test_a_value_without_other_fields_still_gets_its_sequence() -> None:
    [row] = outbox_rows(_event(1), REMINDER_TOPICS)
    row.value = {}
    OutboxEvent.objects.insert_all([row])

    [(_, _, text)] = stored_texts()
    assert text == f'{{"sequence":"{row.id:020d}"}}'


def test_an_event_without_a_sequence_is_valid_and_has_none_in_its_document() -> None:
    event = validate_event(_event_with_task())
    assert event.sequence is None
    assert "sequence" not in event.to_dict()


@pytest.mark.parametrize(
    "sequence",
    [
        "1",  # not padded: would compare wrongly as a string
        "0000000000000000000\uff11",  # a digit outside ASCII (fullwidth one)
        "000000000000000000001",  # 21 digits
        "99999999999999999999",  # beyond any bigint
        "-0000000000000000001",
        "",
    ],
)
def test_a_sequence_that_is_not_a_padded_bigint_is_rejected(sequence: str) -> None:
    document = {**_event_with_task().to_dict(), "sequence": sequence}
    with pytest.raises(InvalidEvent, match="'sequence'"):
        decode_event(json.dumps(document))


def test_a_sequence_that_is_not_a_string_is_rejected() -> None:
    document = {**_event_with_task().to_dict(), "sequence": 12}
    with pytest.raises(InvalidEvent, match="'sequence' must be a string"):
        decode_event(json.dumps(document))


def test_the_largest_bigint_is_a_valid_sequence() -> None:
    document = {**_event_with_task().to_dict(), "sequence": f"{2**63 - 1:020d}"}
    assert decode_event(json.dumps(document)).sequence == "09223372036854775807"


def _event_with_task() -> CloudEvent:
    task = task_representation()
    return CloudEvent(
        id=str(uuid.uuid4()),
        type="task.created",
        source="/tasks",
        subject=task["id"],
        userid="7",
        data={"task": task, "changes": {}},
    )
