"""The audit and recurrence consumers SIGKILLed again and again while events flow.

Scaled for CI (the fault suite's budget is ~4 minutes on 2 cores): 5,000 events instead of the
issue's 50,000 (about 10,000 records: task events go to `task-events` and `task-updates`), and
each consumer is killed 2 s after it got its partitions (so every kill lands mid-stream), at least
3 times each, instead of every 2 s of wall time: on Tansu a group whose member was killed
assigns the partitions again only after the dead member's session expires (`session.timeout.ms`,
6 s) and a join (~3 s), so a consumer killed every 2 s of wall time would never consume at all.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from audit_app.models import AuditLog
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent
from kafka_bridge.receivers import TASK_TOPICS, record_event
from kafka_bridge.tests.kafka_helpers import task_event, task_representation
from tasks_app.models import Task
from tasks_app.services import task_complete, task_create
from tests.faults.support import kafka_lag, log_text
from tests.fixtures import ManagedProcesses, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EVENTS = 5_000
RECURRING = 100
KILLS_EACH = 3
CONSUMING_BEFORE_KILL = 2.0
CONSUMERS = ("audit", "recurrence")


class Crasher(threading.Thread):
    """Runs one consumer, kills it (SIGKILL) 2 s after it got its partitions, starts it again."""

    def __init__(self, name: str, processes: ManagedProcesses, stop: threading.Event) -> None:
        super().__init__(name=f"crasher-{name}")
        self.consumer = name
        self.processes = processes
        self.stop_requested = stop
        self.kills = 0
        self.joins: list[float] = []  # seconds from start to "partitions assigned"
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop_requested.is_set() or self.kills < KILLS_EACH:
                process = self.processes.manage(f"{self.consumer}-{self.kills}", "run_consumer", self.consumer)
                started = time.monotonic()
                while "partitions assigned" not in log_text(process):
                    if time.monotonic() - started > 90:
                        raise AssertionError(f"{self.consumer} got no partitions within 90 s")
                    time.sleep(0.1)
                self.joins.append(time.monotonic() - started)
                time.sleep(CONSUMING_BEFORE_KILL)
                self.processes.kill(process, signal.SIGKILL)
                self.kills += 1
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.errors.append(exc)


def _flow(recurring: list[Task], filler: list[CloudEvent], errors: list[BaseException]) -> None:
    """Completions of recurring tasks through the task services, interleaved with task updates
    as the receivers record them, paced over ~20 s."""
    try:
        per_step = len(filler) // len(recurring)
        for index, task in enumerate(recurring):
            task_complete(task=Task.objects.get(pk=task.pk))
            with transaction.atomic():
                for event in filler[index * per_step : (index + 1) * per_step]:
                    record_event(event, TASK_TOPICS)
            time.sleep(0.2)
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        errors.append(exc)
    finally:
        connections.close_all()


def _audited(wanted: set[tuple[str, str]]) -> Counter:
    ids = {event_id for _, event_id in wanted}
    rows = AuditLog.objects.filter(event_id__in=ids).values_list("topic", "event_id")
    return Counter((topic, str(event_id)) for topic, event_id in rows)


def test_audit_and_recurrence_consumers_killed_repeatedly_store_each_event_once_and_make_one_next_occurrence(
    private_broker, processes: ManagedProcesses, user: Any, figures
) -> None:
    due = timezone.now() + timedelta(days=1)
    recurring = [
        task_create(owner=user, title=f"recurring {n}", due_at=due, timezone="Europe/Berlin", recurrence_rule="daily")
        for n in range(RECURRING)
    ]
    filler_count = EVENTS - 3 * RECURRING  # each recurring task: created, completed, its successor created
    filler = [task_event(task_representation(title=f"update {n}"), user_id=str(user.pk)) for n in range(filler_count)]
    processes.manage("relay", "relay_outbox", "--loop")

    stop = threading.Event()
    crashers = [Crasher(name, processes, stop) for name in CONSUMERS]
    for crasher in crashers:
        crasher.start()
    errors: list[BaseException] = []
    writer = threading.Thread(target=_flow, args=(recurring, filler, errors))
    writer.start()
    writer.join()
    stop.set()
    for crasher in crashers:
        crasher.join()
    assert errors == []
    assert [c.errors for c in crashers] == [[], []]

    recovering = time.monotonic()
    final = {name: processes.manage(f"{name}-final", "run_consumer", name) for name in CONSUMERS}
    successors = {task.id: 0 for task in recurring}

    def every_successor() -> bool:
        successors.update(
            Counter(
                Task.objects.filter(previous_occurrence_id__in=list(successors)).values_list(
                    "previous_occurrence_id", flat=True
                )
            )
        )
        return all(successors.values())

    wait_until(every_successor, timeout=120, interval=0.5, message="a next occurrence of every completed task")
    wanted = set(OutboxEvent.objects.values_list("topic", "event_id"))
    wanted = {(topic, str(event_id)) for topic, event_id in wanted}
    wait_until(
        lambda: set(_audited(wanted)) >= wanted,
        timeout=120,
        interval=0.5,
        message="every record audited (an event failing its schema is dead-lettered by recurrence instead)",
    )
    wait_until(lambda: kafka_lag(*CONSUMERS) == 0, timeout=60, interval=0.5, message="lag back to zero")
    time_to_recover = time.monotonic() - recovering
    # The work may be done before the final members join (the killed ones' sessions expire
    # first); they must still get their partitions: a killed member never wedges its group.
    wait_until(
        lambda: all("partitions assigned" in log_text(process) for process in final.values()),
        timeout=60,
        message="the final consumers assigned",
    )
    first_assignment = {name: "partitions assigned" in log_text(process) for name, process in final.items()}

    audited = _audited(wanted)
    distinct_events = len({event_id for _, event_id in wanted})
    figures.record(
        events_sent=distinct_events,
        records=len(wanted),
        audit_rows=sum(audited.values()),
        audit_duplicates=sum(count - 1 for count in audited.values()),
        lost=len(wanted - set(audited)),
        completions=RECURRING,
        next_occurrences=sum(successors.values()),
        kills={c.consumer: c.kills for c in crashers},
        join_s_max={c.consumer: round(max(c.joins), 1) for c in crashers},
        time_to_recover_s=time_to_recover,
    )
    assert first_assignment == dict.fromkeys(CONSUMERS, True)
    assert distinct_events == EVENTS
    assert audited == dict.fromkeys(wanted, 1)  # audit rows = distinct event ids per topic
    assert successors == dict.fromkeys(successors, 1)  # exactly one next occurrence per completion
