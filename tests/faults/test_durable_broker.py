"""Apache Kafka SIGKILLed and restarted with its data folder while the API writes and all four
consumers consume: nothing lost, no effect applied twice, every group resumes from its committed
offsets (not from the start), the relay's idempotent producer recovers, and web's /readyz
reports the outage while it lasts.

Only a durable broker can show this: Tansu restarts empty (test_broker_restart.py covers it).
"""

from __future__ import annotations

import threading
import time
import urllib.error
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from audit_app.models import AuditLog
from core.auth.tokens import issue_token
from kafka_bridge.config import client_config
from kafka_bridge.models import OutboxEvent
from kafka_bridge.registry import consumers
from kafka_bridge.tests.kafka_helpers import headers_of
from kafka_bridge.topics import Topic
from sync_app.models import SyncUpdate
from tasks_app.models import Task
from tests.faults.support import Broker
from tests.faults.test_broker_restart import readiness
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.scrape import scrape, total
from tests.observability.stack import Stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GROUPS = ("recurrence", "notifications", "sync", "audit")
WRITES_BEFORE_KILL = 25
OUTAGE_WRITES = 10
DUE_AT = "2030-01-01T09:00:00Z"
REMINDERS = [{"offset_minutes": 30}]


class RecurringWriter(threading.Thread):
    """Creates a daily task and completes it, again and again, through the REST API; keeps the
    ids of what it wrote and every status."""

    def __init__(self, stack: Stack, token: str) -> None:
        super().__init__(name="recurring-writer")
        self.stack, self.token = stack, token
        self.stopped = threading.Event()
        self.completed: list[str] = []
        self.statuses: list[int] = []

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            status, reply, _ = self.stack.api(method, path, self.token, body)
        except urllib.error.HTTPError as exc:
            status, reply = exc.code, None
        self.statuses.append(status)
        return reply if status in (200, 201) else None

    def run(self) -> None:
        n = 0
        while not self.stopped.is_set():
            n += 1
            # A reminder too: its reminder.scheduled is the notifications group's record.
            body = {"title": f"durable {n}", "due_at": DUE_AT, "recurrence_rule": "daily", "reminders": REMINDERS}
            task = self._call("POST", "tasks/", body)
            if task and self._call("POST", f"tasks/{task['id']}/complete/") is not None:
                self.completed.append(task["id"])
            self.stopped.wait(0.05)


def committed_offsets(group: str) -> int:
    """The sum of the group's committed offsets over its topics' partitions."""
    topics = list(consumers()[group].topics)
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [TopicPartition(t, p) for t in topics for p in metadata.topics[t].partitions]
        return sum(max(0, tp.offset) for tp in consumer.committed(partitions, timeout=10))
    finally:
        consumer.close()


def event_ids_on(topic: str) -> Counter[str]:
    """Every record's ce_id on `topic`, from the first offset: how often each event was written."""
    consumer = Consumer(
        client_config(**{"group.id": f"durable-reader-{time.monotonic_ns()}", "enable.auto.commit": False})
    )
    metadata = consumer.list_topics(topic, timeout=10)
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in metadata.topics[topic].partitions
    }
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    seen: Counter[str] = Counter()
    positions = dict.fromkeys(ends, 0)
    deadline = time.monotonic() + 60
    try:
        while any(positions[p] < end for p, end in ends.items()) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=5000, timeout=0.5):
                if not message.error():
                    positions[message.partition()] = message.offset() + 1
                    seen[headers_of(message)["ce_id"]] += 1
    finally:
        consumer.close()
    return seen


def test_broker_sigkilled_mid_flow_and_restarted_loses_nothing_and_applies_nothing_twice(
    private_broker: Broker, processes: ManagedProcesses, user: Any, figures
) -> None:
    if not private_broker.durable:
        pytest.skip("needs a broker that keeps its data across a restart (KAFKA_EMBEDDED_BROKER=apache)")
    stack = Stack(processes)
    stack.start_web()
    stack.start_relay()
    for group in GROUPS:
        stack.start_consumer(group)
    stack.wait_ready(timeout=90)
    writer = RecurringWriter(stack, issue_token(subject=user.username, email=user.email))
    writer.start()
    try:
        # Mid-flow: every group has consumed and committed, and the relay is publishing.
        wait_until(
            lambda: len(writer.completed) >= WRITES_BEFORE_KILL and all(committed_offsets(g) for g in GROUPS),
            timeout=90,
            message="the flow under way in every group",
        )
        committed_before = {group: committed_offsets(group) for group in GROUPS}
        completed_at_kill = len(writer.completed)
        private_broker.kill()
        killed_at = time.monotonic()

        status, body = wait_until(
            lambda: (reply := readiness(stack.base))[1]["checks"]["kafka"]["ok"] is False and reply,
            timeout=30,
            message="/readyz reporting Kafka down",
        )
        outage_report = (status, body["status"])
        wait_until(
            lambda: len(writer.completed) >= completed_at_kill + OUTAGE_WRITES,
            timeout=60,
            message="writes accepted while the broker is down",
        )
        pending_during_outage = OutboxEvent.objects.filter(pending__isnull=False).count()
        writes_during_outage = len(writer.completed) - completed_at_kill

        private_broker.start()  # the same data folder: a durable restart
        restarted_at = time.monotonic()
        wait_until(lambda: readiness(stack.base)[1]["status"] == "ok", timeout=60, message="/readyz ok again")
        ready_again_s = time.monotonic() - restarted_at
    finally:
        writer.stopped.set()
        writer.join()

    written = set(writer.completed)

    def arrived() -> dict[str, set[str]]:
        audit = AuditLog.objects.filter(task_id__in=written, topic=Topic.TASK_EVENTS.value)
        synced = SyncUpdate.objects.filter(type="task.completed")
        return {
            "created": {str(t) for t in audit.filter(event_type="task.created").values_list("task_id", flat=True)},
            "completed": {str(t) for t in audit.filter(event_type="task.completed").values_list("task_id", flat=True)},
            "synced": {str(task["id"]) for task in synced.values_list("task", flat=True)} & written,
        }

    wait_until(
        lambda: all(ids == written for ids in arrived().values()),
        timeout=120,
        interval=0.5,
        message="every written task's events audited and synced",
    )
    series = Task.objects.filter(id__in=written).values_list("series_id", flat=True)
    wait_until(
        lambda: Task.objects.filter(series_id__in=series).count() >= 2 * len(written),
        timeout=120,
        interval=0.5,
        message="a next occurrence of every completed task",
    )
    time.sleep(2)  # room for a duplicate effect to show
    recovered_s = time.monotonic() - restarted_at
    occurrences = Counter(Task.objects.filter(series_id__in=series).values_list("series_id", flat=True))
    duplicates_handled = {
        group: int(
            total(
                scrape(stack.metrics_url(f"consumer-{group}")),
                "kafka_records_handled_total",
                group=group,
                outcome="duplicate",
            )
        )
        for group in GROUPS
    }
    on_topic = event_ids_on(Topic.TASK_EVENTS.value)
    outbox_ids = {
        str(e) for e in OutboxEvent.objects.filter(topic=Topic.TASK_EVENTS.value).values_list("event_id", flat=True)
    }
    lost = {kind: len(written - ids) for kind, ids in arrived().items()}

    figures.record(
        tasks_written=len(written),
        writes_during_outage=writes_during_outage,
        pending_during_outage=pending_during_outage,
        outage_s=restarted_at - killed_at,
        ready_again_s=ready_again_s,
        time_to_recover_s=recovered_s,
        received={kind: len(ids & written) for kind, ids in arrived().items()},
        lost=lost,
        next_occurrences_twice=sum(1 for count in occurrences.values() if count > 2),
        records_written_twice=sum(1 for count in on_topic.values() if count > 1),
        records_missing=len(outbox_ids - set(on_topic)),
        committed_before_kill=committed_before,
        redelivered_and_skipped=duplicates_handled,
    )
    assert outage_report == (200, "degraded")
    assert writes_during_outage >= OUTAGE_WRITES
    assert pending_during_outage > 0
    assert set(writer.statuses) <= {200, 201}, Counter(writer.statuses)
    assert lost == {"created": 0, "completed": 0, "synced": 0}
    assert all(count == 2 for count in occurrences.values()), occurrences  # the task and one next occurrence
    assert len(occurrences) == len(written)
    assert not outbox_ids - set(on_topic)
    assert all(count == 1 for count in on_topic.values())  # the idempotent producer wrote none twice
    # Resumed from the committed offsets: what came again is at most what was in flight, far
    # below what each group had already committed.
    assert all(duplicates_handled[g] < committed_before[g] for g in GROUPS), (duplicates_handled, committed_before)
