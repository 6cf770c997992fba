"""The audit and recurrence consumers SIGKILLed again and again while events flow, each kill
landing while the member holds records it has processed but not committed.

A crasher per consumer starts a member with the runner's tests-only fault point on (a pause after
a batch is handled, before its offsets are committed, announced in the log), and at each such
line freezes the member (SIGSTOP), reads the group's committed offsets and what the member has
stored since it started (audit rows carry their Kafka offset; a recurrence processed-event is
located by its audit row), and SIGKILLs it only if some of that work lies at or past the
committed offset; otherwise it lets the member run on. So every kill counted has processed but
uncommitted records (asserted), which the next member gets again and must skip.

What should arrive is what the test wrote: the ids of its events (each on `task-events` and
`task-updates`) and its recurring tasks (created and completed, each a next occurrence).

Scale: 5,000 events in CI, 50,000 with `make test-faults FULL=1`; each consumer killed at least
3 times. A member killed with SIGKILL keeps its partitions until its session expires (6 s); the
backlog written meanwhile is what the next member is killed in.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from django.db import connections, transaction
from django.utils import timezone

from audit_app.models import AuditLog
from kafka_bridge.config import client_config
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import ProcessedEvent
from kafka_bridge.receivers import record_event
from kafka_bridge.tests.kafka_helpers import task_event, task_representation
from kafka_bridge.topics import Topic
from tasks_app.events import TASK_TOPICS
from tasks_app.models import Task
from tasks_app.services import task_complete, task_create
from tests.faults.support import at_scale, kafka_lag, log_text
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EVENTS = at_scale(5_000, 50_000)
RECURRING = at_scale(100, 500)
# The writer's pace: long enough for three landed kills of each consumer (each costs a session
# timeout and a join, ~10 s), and a backlog at every join.
WRITE_SECONDS = at_scale(50, 600)
KILLS_EACH = 3
# The crashers' members pause this long at the runner's fault point (handled, not committed), so
# that a probe lands there; the last members, which drain the backlog, do not.
FAULT_PAUSE_S = 0.5
FAULT_POINT = "consumer fault point"
CONSUMERS = ("audit", "recurrence")
TOPICS = [Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value]


def committed(group: str) -> dict[tuple[str, int], int]:
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [TopicPartition(t, p) for t in TOPICS for p in metadata.topics[t].partitions]
        return {(tp.topic, tp.partition): max(0, tp.offset) for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def uncommitted_work(name: str, since: datetime) -> int:
    """Records the member has processed (its work committed to PostgreSQL) whose offsets the group
    has not committed. Audit rows carry their Kafka offset: those at or past the committed offset.
    A recurrence processed-event carries no offset: those written after `since`, the member's
    last commit (its previous fault point's pause ended), or its start."""
    if name != "audit":
        return ProcessedEvent.objects.filter(group=name, processed_at__gt=since).count()
    offsets = committed(name)
    rows = AuditLog.objects.filter(received_at__gte=since, topic__in=TOPICS)
    positions = rows.values_list("topic", "kafka_partition", "kafka_offset")
    return sum(1 for topic, partition, offset in positions if offset >= offsets[(topic, partition)])


def fault_points(process: Any) -> list[datetime]:
    """When the member logged each of its fault points (handled, not yet committed)."""
    return [
        datetime.fromisoformat(json.loads(line)["time"])
        for line in log_text(process).splitlines()
        if FAULT_POINT in line and line.startswith("{")
    ]


class Crasher(threading.Thread):
    """Runs one consumer; kills each member while it holds processed, uncommitted records
    (probed while frozen), and starts the next; until stopped and KILLS_EACH kills landed."""

    def __init__(self, name: str, processes: ManagedProcesses, stop: threading.Event) -> None:
        super().__init__(name=f"crasher-{name}")
        self.consumer = name
        self.processes = processes
        self.stop_requested = stop
        self.kills = 0
        self.probes = 0
        self.uncommitted_at_kills: list[int] = []
        self.joins: list[float] = []  # seconds from start to "partitions assigned"
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while self.kills < KILLS_EACH and not self.stop_requested.is_set():
                process = self.processes.manage(
                    f"{self.consumer}-{self.kills}",
                    "run_consumer",
                    self.consumer,
                    env=subprocess_env(KAFKA_CONSUMER_FAULT_PAUSE_BEFORE_COMMIT=str(FAULT_PAUSE_S)),
                )
                started_at = timezone.now()
                started = time.monotonic()
                while "partitions assigned" not in log_text(process):
                    if time.monotonic() - started > 90:
                        raise AssertionError(f"{self.consumer} got no partitions within 90 s")
                    time.sleep(0.1)
                self.joins.append(time.monotonic() - started)
                self._kill_with_work_in_hand(process, started_at)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.errors.append(exc)
        finally:
            connections.close_all()

    def _kill_with_work_in_hand(self, process: Any, started_at: datetime) -> None:
        """At the member's fault point (handled, not yet committed: FAULT_PAUSE_S), freeze it
        and kill it if it holds processed work past the committed offsets; else let it go on."""
        seen = 0
        while not self.stop_requested.is_set():
            points = fault_points(process)
            if len(points) == seen:
                time.sleep(0.02)
                continue
            seen = len(points)
            os.killpg(process.pid, signal.SIGSTOP)
            self.probes += 1
            # Its work since the last commit: the pause before that commit ended FAULT_PAUSE_S
            # after the previous fault point (audit reads its offsets, and needs only the start).
            last_commit = points[-2] + timedelta(seconds=FAULT_PAUSE_S) if len(points) > 1 else started_at
            held = uncommitted_work(self.consumer, started_at if self.consumer == "audit" else last_commit)
            if held:
                self.processes.kill(process, signal.SIGKILL)
                self.kills += 1
                self.uncommitted_at_kills.append(held)
                return
            os.killpg(process.pid, signal.SIGCONT)
        os.killpg(process.pid, signal.SIGCONT)  # the writer is done: this member drains


def _flow(recurring: list[Task], filler: list[CloudEvent], errors: list[BaseException]) -> None:
    """Completions of recurring tasks through the task services, interleaved with task updates
    as the receivers record them, paced over WRITE_SECONDS."""
    try:
        per_step = len(filler) // len(recurring)
        pause = WRITE_SECONDS / len(recurring)
        started = time.monotonic()
        for index, task in enumerate(recurring):
            task_complete(task=Task.objects.get(pk=task.pk))
            with transaction.atomic():
                for event in filler[index * per_step : (index + 1) * per_step]:
                    record_event(event, TASK_TOPICS)
            time.sleep(max(0.0, started + (index + 1) * pause - time.monotonic()))
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        errors.append(exc)
    finally:
        connections.close_all()


def _audited_filler(ids: set[str]) -> Counter[tuple[str, str]]:
    rows = AuditLog.objects.filter(event_id__in=ids, topic__in=TOPICS).values_list("topic", "event_id")
    return Counter((topic, str(event_id)) for topic, event_id in rows)


def _audited_tasks(task_ids: set[Any]) -> Counter[tuple[str, str, str]]:
    rows = AuditLog.objects.filter(
        task_id__in=task_ids, topic__in=TOPICS, event_type__in=("task.created", "task.completed")
    ).values_list("topic", "task_id", "event_type")
    return Counter((topic, str(task_id), kind) for topic, task_id, kind in rows)


def test_audit_and_recurrence_consumers_killed_with_uncommitted_work_store_each_event_once_and_make_one_next_occurrence(
    private_broker, processes: ManagedProcesses, user: Any, figures
) -> None:
    due = timezone.now() + timedelta(days=1)
    recurring = [
        task_create(owner=user, title=f"recurring {n}", due_at=due, timezone="Europe/Berlin", recurrence_rule="daily")
        for n in range(RECURRING)
    ]
    filler_count = EVENTS - 3 * RECURRING  # each recurring task: created, completed, its successor created
    per_step = filler_count // RECURRING
    filler = [
        task_event(task_representation(title=f"update {n}"), user_id=str(user.pk)) for n in range(per_step * RECURRING)
    ]
    processes.manage("relay", "relay_outbox", "--loop")

    stop = threading.Event()
    crashers = [Crasher(name, processes, stop) for name in CONSUMERS]
    errors: list[BaseException] = []
    writer = threading.Thread(target=_flow, args=(recurring, filler, errors))
    writer.start()
    for crasher in crashers:
        crasher.start()
    writer.join()
    stop.set()
    for crasher in crashers:
        crasher.join()
    assert errors == []
    assert [c.errors for c in crashers] == [[], []]

    recovering = time.monotonic()
    final = {name: processes.manage(f"{name}-final", "run_consumer", name) for name in CONSUMERS}
    # What this test wrote: its events on both topics, its tasks' creation and completion.
    filler_wanted = {(topic, event.id) for event in filler for topic in TOPICS}
    task_ids = {str(task.id) for task in recurring}
    tasks_wanted = {
        (topic, task_id, kind)
        for task_id in task_ids
        for topic in TOPICS
        for kind in ("task.created", "task.completed")
    }
    successors: Counter[str] = Counter()

    def every_successor() -> bool:
        successors.clear()
        successors.update(
            str(previous)
            for previous in Task.objects.filter(previous_occurrence_id__in=task_ids).values_list(
                "previous_occurrence_id", flat=True
            )
        )
        return set(successors) == task_ids

    wait_until(every_successor, timeout=180, interval=0.5, message="a next occurrence of every completed task")
    wait_until(
        lambda: set(_audited_filler({e for _, e in filler_wanted})) >= filler_wanted
        and set(_audited_tasks(task_ids)) >= tasks_wanted,
        timeout=300,
        interval=1.0,
        message="every record the test wrote audited",
    )
    wait_until(lambda: kafka_lag(*CONSUMERS) == 0, timeout=120, interval=0.5, message="lag back to zero")
    time_to_recover = time.monotonic() - recovering
    # The work may be done before the final members join (the killed ones' sessions expire
    # first); they must still get their partitions: a killed member never wedges its group.
    wait_until(
        lambda: all("partitions assigned" in log_text(process) for process in final.values()),
        timeout=60,
        message="the final consumers assigned",
    )
    time.sleep(1)  # room for a late duplicate to show
    every_successor()
    audited = _audited_filler({e for _, e in filler_wanted})
    audited_tasks = _audited_tasks(task_ids)
    duplicates = sum(count - 1 for count in audited.values()) + sum(count - 1 for count in audited_tasks.values())
    lost = len(filler_wanted - set(audited)) + len(tasks_wanted - set(audited_tasks))
    figures.record(
        events_written=len(filler) + 3 * RECURRING,  # the successors' task.created included
        records_expected=len(filler_wanted) + len(tasks_wanted),
        received=len(filler_wanted & set(audited)) + len(tasks_wanted & set(audited_tasks)),
        duplicates=duplicates,
        lost=lost,
        completions=RECURRING,
        next_occurrences=sum(successors.values()),
        kills={c.consumer: c.kills for c in crashers},
        uncommitted_at_kills={c.consumer: c.uncommitted_at_kills for c in crashers},
        probes={c.consumer: c.probes for c in crashers},
        join_s_max={c.consumer: round(max(c.joins), 1) for c in crashers},
        time_to_recover_s=time_to_recover,
    )
    for crasher in crashers:
        assert crasher.kills >= KILLS_EACH, f"{crasher.consumer}: {crasher.kills} kills with work in hand"
        assert all(held > 0 for held in crasher.uncommitted_at_kills)
    assert lost == 0
    assert duplicates == 0
    assert audited == Counter(dict.fromkeys(filler_wanted, 1))  # one audit row per (event, topic)
    assert audited_tasks == Counter(dict.fromkeys(tasks_wanted, 1))
    assert successors == Counter(dict.fromkeys(task_ids, 1))  # exactly one next occurrence per completion
