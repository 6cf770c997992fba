"""Poison records on every topic, read by the real consumers (recurrence on `task-events`,
notifications on `reminders`, sync on `task-updates`, audit on all of them).

On each partition of each topic: one record that cannot be processed (not JSON, not a CloudEvent,
a known type whose data fails its schema, an unknown type), then a valid event. Each consumer
dead-letters the poison to `<topic>.dlq` with the reason and its group in the headers and goes
on to the valid event behind it; the audit consumer, which has no DLQ, stores the poison with
the reason (its id derived from the Kafka coordinates).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from confluent_kafka import Producer
from django.utils import timezone

from audit_app.models import AuditLog
from kafka_bridge.config import client_config
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import ProcessedEvent
from kafka_bridge.schemas import decode_event
from kafka_bridge.tests.kafka_helpers import headers_of, read_from, reminder_representation, task_representation
from kafka_bridge.topics import Topic
from notifications_app.models import Notification
from sync_app.models import SyncUpdate
from tests.faults.support import wait_for_log
from tests.fixtures import ManagedProcesses, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PARTITIONS = 3
CONSUMERS = {Topic.TASK_EVENTS: "recurrence", Topic.REMINDERS: "notifications", Topic.TASK_UPDATES: "sync"}


def poison_records(topic: Topic, user_id: int) -> list[bytes]:
    """Four kinds of record no handler can take, the last two valid JSON CloudEvent envelopes."""
    wanted_type = {Topic.TASK_EVENTS: "task.completed", Topic.REMINDERS: "reminder.due"}.get(topic, "task.updated")
    bad_data = CloudEvent(type=wanted_type, source="/faults", subject="x", userid=str(user_id), data={"task": 5})
    unknown = CloudEvent(type="task.exploded", source="/faults", subject="x", userid=str(user_id), data={})
    return [b"\x00\xff not json {", b'{"specversion": "1.0", "id": "no-type"}', bad_data.to_json(), unknown.to_json()]


def valid_event(topic: Topic, user_id: int) -> CloudEvent:
    task = task_representation(title=f"after the poison on {topic.value}")
    if topic is Topic.REMINDERS:
        data = {"reminder": reminder_representation(task["id"]), "task": task}
        event = CloudEvent(type="reminder.due", source="/faults", subject=task["id"], userid=str(user_id), data=data)
    else:
        kind = "task.completed" if topic is Topic.TASK_EVENTS else "task.updated"
        data = {"task": task, "changes": {}}
        event = CloudEvent(type=kind, source="/faults", subject=task["id"], userid=str(user_id), data=data)
    decode_event(event.to_json())  # really valid: only the poison may be refused
    return event


def test_poison_on_every_topic_goes_to_its_dlq_with_the_reason_and_the_partition_moves_on(
    private_broker, processes: ManagedProcesses, user: Any, figures
) -> None:
    test_started = timezone.now()
    consumers = {name: processes.manage(name, "run_consumer", name) for name in (*CONSUMERS.values(), "audit")}
    for process in consumers.values():
        wait_for_log(process, "partitions assigned", timeout=60)

    producer = Producer(client_config())
    poisons: dict[Topic, int] = {}
    valid: dict[Topic, list[CloudEvent]] = {}
    started = time.monotonic()
    for topic in CONSUMERS:
        valid[topic] = []
        for partition in range(PARTITIONS):
            for value in poison_records(topic, user.pk):
                producer.produce(topic.value, value=value, key=b"poison", partition=partition)
                poisons[topic] = poisons.get(topic, 0) + 1
            event = valid_event(topic, user.pk)
            producer.produce(
                topic.value, value=event.to_json(), key=event.subject.encode(), partition=partition,
                headers=[("ce_id", event.id.encode()), ("ce_type", event.type.encode())],
            )  # fmt: skip
            valid[topic].append(event)
    assert producer.flush(10) == 0

    # Every partition moved past its poison: the valid events behind were handled.
    for topic, name in CONSUMERS.items():
        ids = [event.id for event in valid[topic]]
        wait_until(
            lambda name=name, ids=ids: ProcessedEvent.objects.filter(group=name, event_id__in=ids).count()
            == PARTITIONS,
            timeout=60,
            message=f"{name} past the poison",
        )
    moved_on_after = time.monotonic() - started
    assert (
        Notification.objects.filter(reminder_id__in=[e.data["reminder"]["id"] for e in valid[Topic.REMINDERS]]).count()
        == 3
    )
    assert SyncUpdate.objects.filter(event_id__in=[e.id for e in valid[Topic.TASK_UPDATES]]).count() == 3

    dead: dict[Topic, list[Any]] = {}
    for topic, name in CONSUMERS.items():
        dead[topic] = read_from({topic.dlq: dict.fromkeys(range(PARTITIONS), 0)}, expected=poisons[topic], timeout=30)
        headers = [headers_of(message) for message in dead[topic]]
        assert len(dead[topic]) == poisons[topic], topic
        assert {h["group"] for h in headers} == {name}
        assert {h["original_topic"] for h in headers} == {topic.value}
        assert all(h["error"] and h["handler"] and h["failed_at"] for h in headers)
        reasons = " | ".join(h["error"] for h in headers)
        assert "not JSON" in reasons or "json" in reasons.lower(), reasons
        assert "task.exploded" in reasons, reasons

    # The audit log keeps the poison records themselves, each with why it is not an event. The
    # table is partitioned and unmanaged, so test flushes leave earlier tests' rows: count ours.
    ours = AuditLog.objects.filter(received_at__gte=test_started)

    def audited_poison() -> int:
        return ours.filter(topic__in=[t.value for t in CONSUMERS], error__isnull=False).count()

    total_poison = sum(poisons.values())
    wait_until(lambda: audited_poison() == total_poison, timeout=60, message="poison records in the audit log")
    wait_until(
        lambda: ours.filter(topic__in=[t.dlq for t in CONSUMERS]).count() == total_poison,
        timeout=60,
        message="dead letters in the audit log",
    )
    # Lost: a valid event its group never handled, or a poison record neither dead-lettered nor
    # audited; each counted from what the test produced.
    valid_wanted = {(CONSUMERS[topic], event.id) for topic, events in valid.items() for event in events}
    handled = {
        (group, str(event_id))
        for group, event_id in ProcessedEvent.objects.filter(
            event_id__in=[event_id for _, event_id in valid_wanted]
        ).values_list("group", "event_id")
    }
    dead_lettered = sum(len(messages) for messages in dead.values())
    lost = len(valid_wanted - handled) + (total_poison - dead_lettered) + (total_poison - audited_poison())
    figures.record(
        poison_records=total_poison,
        dead_lettered=dead_lettered,
        valid_after_poison=len(valid_wanted),
        valid_handled=len(valid_wanted & handled),
        audited_with_error=audited_poison(),
        lost=lost,
        time_to_move_on_s=moved_on_after,
        sample_reason=json.dumps(headers_of(dead[Topic.REMINDERS][0])["error"][:80]),
    )
    assert lost == 0
    assert valid_wanted <= handled
