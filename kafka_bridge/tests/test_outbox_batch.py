"""`outbox_batch()`: the events recorded inside one block reach the outbox in one INSERT, in
recording order, or not at all; `insert_all`, that INSERT."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.domain_events import outbox_batch
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent, OutboxPending
from kafka_bridge.receivers import outbox_rows, record_event
from kafka_bridge.topics import Topic
from tasks_app.events import TASK_TOPICS


def _event(n: int) -> CloudEvent:
    return CloudEvent(type="task.updated", source="/tasks", subject=f"task-{n}", userid="7", data={"n": n})


def _outbox_inserts(queries: CaptureQueriesContext) -> int:
    return sum(q["sql"].startswith('INSERT INTO "kafka_bridge_outboxevent"') for q in queries.captured_queries)


@pytest.mark.django_db
def test_events_recorded_in_a_batch_are_inserted_once_at_its_end_in_recording_order() -> None:
    with CaptureQueriesContext(connection) as queries, outbox_batch():
        for n in range(5):
            record_event(_event(n), TASK_TOPICS)
            with outbox_batch():  # a nested block joins the outer one
                record_event(_event(100 + n), TASK_TOPICS)
        assert not OutboxEvent.objects.exists()  # nothing written before the end

    assert _outbox_inserts(queries) == 1
    subjects = list(OutboxEvent.objects.order_by("id").values_list("key", "topic"))
    expected = [(f"task-{k}", topic) for n in range(5) for k in (n, 100 + n) for topic in TASK_TOPICS]
    assert subjects == expected


@pytest.mark.django_db
def test_without_a_batch_each_event_is_inserted_at_once() -> None:
    with CaptureQueriesContext(connection) as queries:
        rows = record_event(_event(1), TASK_TOPICS)
        record_event(_event(2), TASK_TOPICS)

    assert _outbox_inserts(queries) == 2
    assert all(row.pk for row in rows)


def _failing_pass() -> None:
    with outbox_batch():
        record_event(_event(1), TASK_TOPICS)
        raise RuntimeError("the pass failed")


@pytest.mark.django_db
def test_a_batch_that_raises_writes_nothing() -> None:
    with pytest.raises(RuntimeError):
        _failing_pass()

    assert not OutboxEvent.objects.exists()
    # The next record outside any batch is written at once again.
    record_event(_event(2), TASK_TOPICS)
    assert OutboxEvent.objects.count() == len(TASK_TOPICS)


@pytest.mark.django_db
def test_outbox_rows_are_inserted_as_a_values_list_not_through_unnest() -> None:
    # UNNEST(%s::jsonb[]) makes psycopg quote every JSON document of the array in Python.
    with CaptureQueriesContext(connection) as queries:
        record_event(_event(1), TASK_TOPICS)

    [insert] = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "kafka_bridge_outboxevent"')
    ]
    assert "UNNEST" not in insert.upper()
    assert OutboxEvent.objects.get(topic=TASK_TOPICS[0]).value["data"] == {"n": 1}


@pytest.mark.django_db
def test_insert_all_writes_the_rows_in_order_and_gives_them_their_ids() -> None:
    rows = [
        *outbox_rows(_event(1), TASK_TOPICS, {"attempt": "x'y\\z"}),
        *outbox_rows(_event(2), (Topic.REMINDERS.value,)),
    ]
    with CaptureQueriesContext(connection) as queries:
        written = OutboxEvent.objects.insert_all(rows)

    assert _outbox_inserts(queries) == 1
    assert written is rows
    assert [row.id for row in rows] == sorted(row.id for row in rows)
    stored = list(OutboxEvent.objects.order_by("id"))
    assert [row.id for row in stored] == [row.id for row in rows]
    for row, read in zip(rows, stored, strict=True):
        assert (read.event_id, read.event_type, read.topic, read.key) == (
            uuid.UUID(row.event_id),
            row.event_type,
            row.topic,
            row.key,
        )
        assert (read.value, read.headers, read.attempts, read.last_error) == (row.value, row.headers, 0, "")
        assert read.created_at == row.created_at is not None
        assert OutboxPending.objects.filter(pk=row.id).exists()  # the trigger saw the INSERT
    with connection.cursor() as cursor:
        cursor.execute('SELECT headers::text FROM "kafka_bridge_outboxevent" WHERE id = %s', [rows[0].id])
        assert cursor.fetchone()[0] == json.dumps(rows[0].headers, separators=(",", ":"))
    assert OutboxEvent.objects.insert_all([]) == []
