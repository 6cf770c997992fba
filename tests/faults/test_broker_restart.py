"""The Kafka broker stopped and restarted while the API takes writes.

The broker is this test's own (the run's kind; the run's broker serves every other test). Tansu
keeps everything in memory, so there a restart is an EMPTY broker: the topics are created again
by `manage.py kafka_topics` (what `make dev`, the Helm hook and the compose file run after starting
a broker), and records it had acknowledged die with it. To compare like with like on either
broker, the relay is frozen (SIGSTOP) just before the stop until all four consumers have read
everything the broker holds, then thawed while the broker is gone: the relay meets the outage with
rows in hand, the API keeps writing, and the outbox holds the backlog. All four consumers run;
what should arrive is what the writer created (the task ids the API answered): each task's
task.created audited once on `task-events` and `task-updates`, synced once, and every group's
lag back to 0. A durable broker's SIGKILL mid-flow is test_durable_broker.py.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest

from audit_app.models import AuditLog
from core.auth.tokens import issue_token
from kafka_bridge.models import OutboxEvent
from kafka_bridge.topics import Topic
from sync_app.models import SyncUpdate
from tests.faults.support import kafka_lag, manage
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.stack import Stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GROUPS = ("recurrence", "notifications", "sync", "audit")


class Writer(threading.Thread):
    """Creates tasks through the REST API, one every 50 ms, until stopped; keeps every status."""

    def __init__(self, stack: Stack, token: str) -> None:
        super().__init__(name="api-writer")
        self.stack = stack
        self.token = token
        self.stopped = threading.Event()
        self.statuses: list[int] = []
        self.created: list[str] = []  # the ids of the tasks the API created
        self.slowest = 0.0

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            body = {"title": f"written {len(self.statuses)}", "due_at": "2030-01-01T09:00:00Z"}
            body["reminders"] = [{"offset_minutes": 30}]  # a record for the notifications group too
            try:
                status, task, _ = self.stack.api("POST", "tasks/", self.token, body)
                self.created.append(task["id"])
            except urllib.error.HTTPError as exc:
                status = exc.code
            self.statuses.append(status)
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.stopped.wait(0.05)


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:  # noqa: S310 - our http URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def published_rows() -> set[tuple[str, str]]:
    rows = OutboxEvent.objects.filter(pending__isnull=True).values_list("topic", "event_id")
    return {(topic, str(event_id)) for topic, event_id in rows}


def audited(rows: set[tuple[str, str]]) -> set[tuple[str, str]]:
    found = AuditLog.objects.filter(event_id__in={event_id for _, event_id in rows}).values_list("topic", "event_id")
    return {(topic, str(event_id)) for topic, event_id in found}


def pending() -> int:
    return OutboxEvent.objects.filter(pending__isnull=False).count()


def test_broker_restart_keeps_the_api_writing_reports_unready_and_loses_nothing(
    private_broker, processes: ManagedProcesses, user: Any, figures
) -> None:
    stack = Stack(processes)
    stack.start_web()
    stack.start_relay()
    for group in GROUPS:
        stack.start_consumer(group)
    stack.wait_ready(timeout=90)
    relay = processes.processes[1]
    relay_base = f"http://127.0.0.1:{stack.metrics_ports['relay']}"
    writer = Writer(stack, issue_token(subject=user.username, email=user.email))
    writer.start()
    try:
        wait_until(lambda: len(audited(published_rows())) >= 40, timeout=30, message="the flow under way")

        # Freeze the relay and let every consumer read all the broker holds (see docstring).
        os.kill(relay.pid, signal.SIGSTOP)
        frozen = published_rows()
        wait_until(lambda: audited(frozen) == frozen, timeout=30, message="everything published audited")
        wait_until(lambda: kafka_lag(*GROUPS) == 0, timeout=60, interval=0.5, message="every group caught up")
        private_broker.stop()
        stopped_at = time.monotonic()
        os.kill(relay.pid, signal.SIGCONT)
        writes_before_outage = len(writer.statuses)

        # Web keeps taking writes (the outbox holds them): degraded, not unavailable. The relay
        # cannot work without Kafka: not ready.
        status, body = wait_until(
            lambda: (reply := readiness(stack.base))[1]["status"] == "degraded" and reply,
            timeout=30,
            message="web's /readyz reporting the outage",
        )
        assert status == 200
        assert body["checks"]["kafka"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True
        wait_until(lambda: readiness(relay_base)[0] == 503, timeout=30, message="the relay's /readyz unready")
        backlog_before = pending()
        wait_until(lambda: pending() >= backlog_before + 40, timeout=30, message="the backlog growing")
        backlog_peak = pending()

        private_broker.start()
        restarted = time.monotonic()
        writes_during_outage = len(writer.statuses) - writes_before_outage
        manage("kafka_topics")
        wait_until(lambda: readiness(stack.base)[1]["status"] == "ok", timeout=30, message="web's /readyz ok again")
        wait_until(lambda: readiness(relay_base)[0] == 200, timeout=30, message="the relay's /readyz ready again")
        ready_after = time.monotonic() - restarted
        wait_until(lambda: pending() == 0, timeout=90, interval=0.2, message="the backlog drained")
        drained_after = time.monotonic() - restarted
    finally:
        writer.stopped.set()
        writer.join()

    wait_until(lambda: pending() == 0, timeout=60, interval=0.2, message="the last writes published")
    written = set(writer.created)
    wanted = {(topic, task_id) for task_id in written for topic in (Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value)}

    def audited_created() -> Counter[tuple[str, str]]:
        rows = AuditLog.objects.filter(task_id__in=written, event_type="task.created").values_list("topic", "task_id")
        return Counter((topic, str(task_id)) for topic, task_id in rows if topic in {t for t, _ in wanted})

    def synced() -> Counter[str]:
        rows = SyncUpdate.objects.filter(type="task.created").values_list("task", flat=True)
        return Counter(task["id"] for task in rows if task["id"] in written)

    wait_until(
        lambda: set(audited_created()) == wanted and set(synced()) == written,
        timeout=90,
        interval=0.5,
        message="every written task audited on both topics and synced",
    )
    wait_until(lambda: kafka_lag(*GROUPS) == 0, timeout=60, interval=0.5, message="every group's lag back to 0")
    recovered_after = time.monotonic() - restarted
    time.sleep(1)  # room for a late duplicate to show
    audit_counts, sync_counts = audited_created(), synced()
    figures.record(
        writes=len(writer.statuses),
        writes_during_outage=writes_during_outage,
        writes_refused=sum(1 for status in writer.statuses if status != 201),
        slowest_write_s=writer.slowest,
        tasks_written=len(written),
        records_expected=len(wanted),
        audited=len(set(audit_counts) & wanted),
        synced=len(set(sync_counts) & written),
        duplicates=sum(c - 1 for c in audit_counts.values()) + sum(c - 1 for c in sync_counts.values()),
        lost=len(wanted - set(audit_counts)) + len(written - set(sync_counts)),
        outage_s=restarted - stopped_at,
        backlog_peak=backlog_peak,
        ready_again_s=ready_after,
        backlog_drained_s=drained_after,
        time_to_recover_s=recovered_after,
        # Members that went KAFKA_CONSUMER_REJOIN_SECONDS without partitions (kafka_bridge/consumer/loop.py).
        clients_replaced=sum(stack.logs[f"consumer-{g}"].read_text().count("replacing the client") for g in GROUPS),
    )
    assert set(writer.statuses) == {201}, Counter(writer.statuses)
    assert writes_during_outage > 0
    assert audit_counts == Counter(dict.fromkeys(wanted, 1))
    assert sync_counts == Counter(dict.fromkeys(written, 1))
