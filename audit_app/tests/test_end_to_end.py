"""The whole path against the real broker and database: task services → outbox → relay →
Kafka → `run_consumer audit` (child processes) → audit log → API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audit_app.ingest import record_id
from audit_app.models import AuditLog
from audit_app.selectors import OLDEST_FIRST
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.tests.kafka_helpers import produce
from notifications_app.tests.smtp import SMTPTestServer
from tasks_app import services as task_services
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def start_pipeline(processes: ManagedProcesses) -> None:
    consumer = processes.manage("audit-consumer", "run_consumer", "audit")
    processes.manage("relay", "relay_outbox", "--loop")
    log = Path(consumer.log_path)
    wait_until(lambda: "partitions assigned" in log.read_text(), timeout=60, message="audit consumer assigned")


def trail(task_id: Any, **filters: Any) -> list[tuple[str, str]]:
    """The task's entries in the API's order: the events of one instant by their sequence, which
    the outbox gave them in write order, not by when the audit consumer stored them."""
    rows = AuditLog.objects.filter(task_id=task_id, **filters).order_by(*OLDEST_FIRST)
    return list(rows.values_list("event_type", "topic"))


def test_a_tasks_life_appears_in_its_audit_trail_in_order_and_once(
    kafka_topics: None, processes: ManagedProcesses, user: Any, api_client: Any
) -> None:
    start_pipeline(processes)

    task = task_services.task_create(
        owner=user,
        title="Renew passport",
        due_at=timezone.now() + timedelta(days=3),
        reminders=[{"offset_minutes": 60}],
    )
    task = task_services.task_update(task=task, title="Renew passport and ID card")
    task = task_services.task_complete(task=task)

    expected_topics = {
        "task-events": ["task.created", "task.updated", "task.completed"],
        "task-updates": ["task.created", "task.updated", "task.completed"],
        "reminders": ["reminder.scheduled", "reminder.cancelled"],
    }
    wait_until(lambda: len(trail(task.pk)) == 8, timeout=60, message="8 audit entries for the task")
    for topic, types in expected_topics.items():
        assert [event_type for event_type, _ in trail(task.pk, topic=topic)] == types

    # Every entry carries the owner and the whole envelope; the owner sees the trail in the API.
    entries = list(AuditLog.objects.filter(task_id=task.pk))
    assert {entry.user_id for entry in entries} == {str(user.pk)}
    assert all(entry.envelope["id"] == str(entry.event_id) for entry in entries)
    response = api_client.get("/api/v1/audit/", {"task": str(task.pk), "topic": "task-events"})
    assert [entry["type"] for entry in response.json()["results"]] == [
        "task.completed",
        "task.updated",
        "task.created",
    ]

    # Redelivery of an event already stored, then a record that is not an event (the marker
    # that the consumer got past the duplicate): the duplicate adds nothing.
    created = AuditLog.objects.get(task_id=task.pk, topic="task-events", event_type="task.created")
    event = CloudEvent.from_dict(created.envelope)
    produce("task-events", key=str(task.pk), value=event.to_json(), headers={"ce_id": event.id})
    produce("task-events", key=str(task.pk), value=b"not an event")
    wait_until(
        lambda: AuditLog.objects.filter(topic="task-events", event_type="", task_id=task.pk).exists(),
        timeout=30,
        message="the garbage record stored",
    )
    junk = AuditLog.objects.get(topic="task-events", event_type="", task_id=task.pk)
    assert junk.event_id == record_id_of(junk)
    assert bytes(junk.raw_value) == b"not an event"
    assert AuditLog.objects.filter(event_id=event.id).count() == 2  # task-events and task-updates
    assert len(trail(task.pk)) == 9

    # A dead letter of that event: its own row on the DLQ topic, with the reasons kept.
    dlq_headers = {"error": "PermanentError: no", "handler": "h", "attempts": "1", "failed_at": "2026-11-28T00:00:00Z"}
    produce("task-events.dlq", key=str(task.pk), value=event.to_json(), headers={"ce_id": event.id, **dlq_headers})
    dead = wait_until(lambda: AuditLog.objects.filter(topic="task-events.dlq", event_id=event.id).first(), timeout=30)
    assert (dead.event_type, dead.error) == ("task.created", "PermanentError: no")
    assert dead.headers == {"ce_id": event.id, **dlq_headers}


def test_a_recurring_tasks_whole_life_is_in_its_audit_trail_in_order(
    kafka_topics: None, processes: ManagedProcesses, user: Any
) -> None:
    """create → reminder scheduled, due, sent (e-mail through a real SMTP server) → update →
    complete → next occurrence created by the recurrence consumer: all audited, in order."""
    smtp = SMTPTestServer().start()
    try:
        env = subprocess_env(**smtp.env())
        consumers = [
            processes.manage(name, "run_consumer", name, env=env) for name in ("audit", "recurrence", "notifications")
        ]
        processes.manage("relay", "relay_outbox", "--loop", env=env)
        processes.celery_worker(env=env)
        processes.manage("dispatcher", "dispatch_reminders", "--loop", "--interval", "0.2", env=env)
        for consumer in consumers:
            log = Path(consumer.log_path)
            wait_until(lambda log=log: "partitions assigned" in log.read_text(), timeout=90, message=f"{log} assigned")

        task = task_services.task_create(
            owner=user,
            title="Water the plants",
            due_at=timezone.now() + timedelta(hours=1),
            recurrence_rule="daily",
            reminders=[{"remind_at": timezone.now() + timedelta(seconds=2)}],
        )
        wait_until(
            lambda: trail(task.pk, topic="reminders")[-1:] == [("reminder.sent", "reminders")],
            timeout=90,
            message="reminder.sent audited",
        )
        task = task_services.task_update(task=task, title="Water the plants and the garden")
        task_services.task_complete(task=task)

        def successor() -> AuditLog | None:
            return (
                AuditLog.objects.filter(topic="task-events", event_type="task.created")
                .exclude(task_id=task.pk)
                .filter(envelope__data__task__series_id=str(task.series_id))
                .first()
            )

        wait_until(successor, timeout=90, message="the next occurrence's task.created audited")
        wait_until(lambda: ("task.completed", "task-events") in trail(task.pk), timeout=30)
        life = [event_type for event_type, topic in trail(task.pk) if topic in {"task-events", "reminders"}]
        assert life == [
            "task.created",
            "reminder.scheduled",
            "reminder.due",
            "reminder.sent",
            "task.updated",
            "task.completed",
        ]
        assert (
            successor().occurred_at
            > AuditLog.objects.get(task_id=task.pk, topic="task-events", event_type="task.completed").occurred_at
        )
        assert len(smtp.messages) == 1
        assert set(AuditLog.objects.filter(task_id=task.pk).values_list("user_id", flat=True)) == {str(user.pk)}
    finally:
        smtp.stop()


def record_id_of(entry: AuditLog) -> Any:
    from kafka_bridge.records import ConsumedRecord

    return record_id(
        ConsumedRecord(
            topic=entry.topic,
            partition=entry.kafka_partition,
            offset=entry.kafka_offset,
            key=None,
            headers={},
            value=None,
            timestamp=None,
            event=None,
        )
    )
