"""Domain signals become outbox rows in the writer's transaction, and the relay publishes them."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection, transaction

from core.correlation import correlation_scope
from kafka_bridge import relay
from kafka_bridge.models import OutboxEvent, OutboxPending
from kafka_bridge.relay import backlog, draining
from kafka_bridge.schemas import decode_event
from kafka_bridge.tests.kafka_helpers import (
    end_offsets,
    headers_of,
    read_from,
    reminder_representation,
    task_representation,
)
from kafka_bridge.topics import Topic
from notifications_app import signals as notification_signals
from tasks_app import signals as task_signals

TASK_SIGNALS = {
    "task.created": task_signals.task_created,
    "task.updated": task_signals.task_updated,
    "task.completed": task_signals.task_completed,
    "task.reopened": task_signals.task_reopened,
    "task.deleted": task_signals.task_deleted,
}


def _send_task_signal(signal, task: dict, user_id: int = 7, changes: dict | None = None) -> None:
    signal.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=user_id, task=task, changes=changes or {})


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_task_write_publishes_one_cloudevent_on_task_events_and_task_updates_keyed_by_task_id() -> None:
    topics = [Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value]
    start = {topic: end_offsets(topic) for topic in topics}
    task = task_representation(title="Buy milk")
    with correlation_scope("req-123"), transaction.atomic():
        _send_task_signal(task_signals.task_created, task, user_id=42)

    published, _ = relay.publish_pending()

    assert published == 2
    messages = read_from(start, expected=2)
    assert sorted(m.topic() for m in messages) == sorted(topics)
    events = [decode_event(m.value()) for m in messages]  # schema-valid, or this raises
    assert {e.id for e in events} == {events[0].id}
    event = events[0]
    assert (event.type, event.source, event.subject, event.userid) == ("task.created", "/tasks", task["id"], "42")
    assert event.correlationid == "req-123"
    assert event.data == {"task": task, "changes": {}}
    for message in messages:
        assert message.key() == task["id"].encode()
        assert headers_of(message) == {"ce_id": event.id, "ce_type": "task.created", "correlation_id": "req-123"}
    assert OutboxEvent.objects.filter(pending__isnull=False).count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_a_backlog_is_published_in_id_order_claiming_each_batch_ahead(monkeypatch) -> None:
    claimed_ahead: list[int] = []

    class RecordingClaimAhead(draining.ClaimAhead):
        def __init__(self, after: int, limit: int) -> None:
            claimed_ahead.append(after)
            super().__init__(after, limit)

    monkeypatch.setattr(draining, "ClaimAhead", RecordingClaimAhead)
    topic = Topic.TASK_UPDATES.value
    start = {topic: end_offsets(topic)}
    task = task_representation()
    with transaction.atomic():
        for version in range(1, 24):  # 23 events of one task: one key, one partition, in order
            _send_task_signal(task_signals.task_updated, {**task, "version": version})
    ids = list(OutboxEvent.objects.order_by("id").values_list("id", flat=True))  # both topics

    with relay.leadership() as leader:
        assert leader
        assert relay.drain(batch_size=5) == 46

    ours = [m for m in read_from(start, expected=23) if m.key() == task["id"].encode()]  # see the rolled-back test
    versions = [decode_event(m.value()).data["task"]["version"] for m in ours]
    assert versions == list(range(1, 24))
    assert not OutboxPending.objects.exists()
    # Each full claim of 5 rows sent the next one, after its last id, before producing its own.
    assert claimed_ahead == ids[4::5]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_the_record_value_is_the_compact_json_text_the_outbox_row_holds() -> None:
    topic = Topic.TASK_UPDATES.value
    start = {topic: end_offsets(topic)}
    task = task_representation(title="Überweisung: Miete, Strom")
    with transaction.atomic():
        _send_task_signal(task_signals.task_updated, task)
    row = OutboxEvent.objects.get(topic=topic, key=task["id"])
    with connection.cursor() as cursor:
        cursor.execute('SELECT value::text FROM "kafka_bridge_outboxevent" WHERE id = %s', [row.id])
        [stored] = cursor.fetchone()

    assert relay.publish_pending()[0] == 2

    [message] = [m for m in read_from(start, expected=1) if m.key() == task["id"].encode()]
    assert message.value() == stored.encode()
    # As written (compact), not re-rendered by PostgreSQL (jsonb's text has ": " and ", ").
    assert stored == json.dumps(row.value, separators=(",", ":"))
    assert row.value["data"]["task"]["title"] == "Überweisung: Miete, Strom"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_header_values_that_are_not_strings_are_published_as_text() -> None:
    topic = Topic.TASK_UPDATES.value
    start = {topic: end_offsets(topic)}
    key = str(uuid.uuid4())
    OutboxEvent.objects.create(
        event_id=uuid.uuid4(),
        event_type="task.updated",
        topic=topic,
        key=key,
        value={"id": key},
        headers={"ce_type": "task.updated", "attempts": 3, "retried": True},
    )

    assert relay.publish_pending()[0] == 1

    [message] = [m for m in read_from(start, expected=1) if m.key() == key.encode()]
    assert headers_of(message) == {"ce_type": "task.updated", "attempts": "3", "retried": "True"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_rolled_back_write_records_and_publishes_nothing() -> None:
    start = {topic: end_offsets(topic) for topic in (Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value)}
    task = task_representation()

    def failing_service() -> None:
        with transaction.atomic():
            _send_task_signal(task_signals.task_created, task)
            raise RuntimeError("the service failed after sending its signal")

    with pytest.raises(RuntimeError):
        failing_service()

    assert OutboxEvent.objects.count() == 0
    assert relay.publish_pending() == (0, False)
    # By key: Tansu's end offset can lag behind an earlier test's last batch (bench/README.md, platform facts).
    assert [m for m in read_from(start, expected=0, timeout=1.0) if m.key() == task["id"].encode()] == []


@pytest.mark.django_db
@pytest.mark.parametrize("event_type", sorted(TASK_SIGNALS))
def test_each_task_signal_records_a_schema_valid_event_on_both_task_topics(event_type: str) -> None:
    task = task_representation(recurrence_text="every Monday")
    changes = {"title": {"old": "a", "new": "b"}} if event_type == "task.updated" else {}

    _send_task_signal(TASK_SIGNALS[event_type], task, changes=changes)

    rows = list(OutboxEvent.objects.order_by("topic"))
    assert [row.topic for row in rows] == ["task-events", "task-updates"]
    assert rows[0].event_id == rows[1].event_id
    event = decode_event(_json(rows[0].value))
    assert event.type == event_type
    assert event.data == {"task": task, "changes": changes}
    assert {row.key for row in rows} == {task["id"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("signal", "event_type", "topics", "extra"),
    [
        (task_signals.reminder_scheduled, "reminder.scheduled", ["reminders"], {}),
        (task_signals.reminder_cancelled, "reminder.cancelled", ["reminders"], {}),
        (task_signals.reminder_due, "reminder.due", ["reminders"], {}),
        (notification_signals.reminder_sent, "reminder.sent", ["reminders"], {"notification": True}),
        (
            notification_signals.reminder_failed,
            "reminder.failed",
            ["reminders"],  # its redrivable dead letter is notifications_app's to write
            {"notification": True, "reason": "mailbox full"},
        ),
    ],
)
def test_each_reminder_signal_records_a_schema_valid_event_on_the_reminder_topics(
    signal, event_type: str, topics: list[str], extra: dict
) -> None:
    task = task_representation()
    reminder = reminder_representation(task["id"])
    kwargs: dict = {"reminder": reminder}
    if extra.get("notification"):
        kwargs["notification"] = {
            "id": str(uuid.uuid4()),
            "channel": "email",
            "status": "sent",
            "attempts": 1,
            "last_error": None,
            "provider_message_id": "abc",
        }
        if "reason" in extra:
            kwargs["reason"] = extra["reason"]
    kwargs["task"] = task

    signal.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=3, **kwargs)

    rows = list(OutboxEvent.objects.order_by("topic", "id"))
    assert [row.topic for row in rows] == topics
    event = decode_event(_json(rows[0].value))
    assert event.type == event_type
    assert event.subject == task["id"]
    assert event.data == kwargs
    assert [decode_event(_json(row.value)).subject for row in rows] == [task["id"]] * len(rows)
    assert {row.key for row in rows} == {task["id"]}


def _json(value: dict) -> bytes:
    import json

    return json.dumps(value).encode()


@pytest.mark.django_db
def test_task_services_lifecycle_records_schema_valid_events_in_order(user) -> None:
    from datetime import UTC, datetime, timedelta

    from tasks_app import services

    task = services.task_create(
        owner=user,
        title="Water the plants",
        tags=["home"],
        due_at=datetime.now(UTC) + timedelta(days=1),
        timezone="Europe/Berlin",
        recurrence_rule="weekly",
        reminders=[{"offset_minutes": 30}],
    )
    task = services.task_update(task=task, title="Water all the plants")
    task = services.task_complete(task=task)
    task = services.task_reopen(task=task)
    services.task_delete(task=task)

    rows = list(OutboxEvent.objects.filter(topic__in=["task-events", "reminders"]).order_by("id"))
    events = [decode_event(_json(row.value)) for row in rows]  # every one schema-valid
    task_types = [e.type for e in events if e.type.startswith("task.")]
    assert task_types == ["task.created", "task.updated", "task.completed", "task.reopened", "task.deleted"]
    assert "reminder.scheduled" in [e.type for e in events]
    assert {e.subject for e in events} == {str(task.id)}
    assert {e.userid for e in events} == {str(user.id)}
    updated = next(e for e in events if e.type == "task.updated")
    assert updated.data["changes"]["title"] == {"old": "Water the plants", "new": "Water all the plants"}
    updates = OutboxEvent.objects.filter(topic="task-updates").count()
    assert updates == len(task_types)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_commit_wakes_the_relay_through_celery(processes) -> None:
    from tests.fixtures import wait_until

    processes.celery_worker()
    with transaction.atomic():
        _send_task_signal(task_signals.task_created, task_representation())

    wait_until(
        lambda: not OutboxEvent.objects.filter(pending__isnull=False).exists(),
        timeout=30,
        message="outbox published by the Celery relay task",
    )


@pytest.mark.django_db
def test_the_relay_prunes_published_outbox_rows_past_retention_and_nothing_else(settings) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from kafka_bridge.models import ProcessedEvent

    settings.KAFKA_OUTBOX_RETENTION_HOURS = 1
    now = timezone.now()
    for _ in range(3):
        _send_task_signal(task_signals.task_created, task_representation())
    old, recent, pending = (row.id for row in OutboxEvent.objects.filter(topic="task-events"))
    OutboxEvent.objects.filter(id__in=[old, pending]).update(created_at=now - timedelta(hours=2))
    OutboxEvent.objects.filter(id=recent).update(created_at=now - timedelta(minutes=30))
    OutboxPending.objects.filter(event__in=[old, recent]).delete()  # published
    stale = ProcessedEvent.objects.create(group="g", event_id=uuid.uuid4())
    ProcessedEvent.objects.filter(id=stale.id).update(processed_at=now - timedelta(days=365))

    assert relay.prune(now=now) == 1

    assert set(OutboxEvent.objects.filter(topic="task-events").values_list("id", flat=True)) == {recent, pending}
    assert ProcessedEvent.objects.filter(id=stale.id).exists()  # the consumers' own to prune


@pytest.mark.django_db
def test_the_consumers_prune_processed_ids_past_retention(settings) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from kafka_bridge.consumer import dedupe
    from kafka_bridge.models import ProcessedEvent
    from kafka_bridge.schedules import BEAT_SCHEDULE
    from kafka_bridge.tasks import prune_processed_events_task

    settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS = 1
    now = timezone.now()
    stale = ProcessedEvent.objects.create(group="g", event_id=uuid.uuid4())
    ProcessedEvent.objects.filter(id=stale.id).update(processed_at=now - timedelta(days=2))
    fresh = ProcessedEvent.objects.create(group="g", event_id=uuid.uuid4())

    assert dedupe.prune(now=now) == 1
    assert list(ProcessedEvent.objects.values_list("id", flat=True)) == [fresh.id]
    assert prune_processed_events_task() == 0
    assert any(entry["task"] == prune_processed_events_task.name for entry in BEAT_SCHEDULE.values())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_relay_counts_published_events_and_reports_the_backlog() -> None:
    from prometheus_client import REGISTRY

    def published() -> float:
        return REGISTRY.get_sample_value("outbox_events_published_total", {"topic": "task-events"}) or 0.0

    before = published()
    _send_task_signal(task_signals.task_created, task_representation())
    assert relay.update_backlog_metrics()[0] == 2
    assert REGISTRY.get_sample_value("outbox_backlog") == 2

    relay.publish_pending()

    assert published() == before + 1
    assert REGISTRY.get_sample_value("outbox_backlog") == 0
    assert REGISTRY.get_sample_value("outbox_oldest_age_seconds") == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_backlog_gauges_are_read_after_a_drain_at_most_every_second_while_there_is_none() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def drain_one() -> int:
        _send_task_signal(task_signals.task_created, task_representation())
        with relay.leadership(), CaptureQueriesContext(connection) as queries:
            relay.drain()
        return sum("COUNT(" in query["sql"] for query in queries.captured_queries)

    assert relay.update_backlog_metrics()[0] == 0
    assert drain_one() == 0  # shown as none moments ago
    backlog.backlog_seen["at"] -= backlog.BACKLOG_METRICS_SECONDS
    assert drain_one() == 1
    backlog.backlog_seen["count"] = 2  # a backlog was shown: read at once, so it can fall to 0
    assert drain_one() == 1
