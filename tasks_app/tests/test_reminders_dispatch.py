"""Reminder dispatch: due reminders fire once, with reminder.due in the same transaction."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kafka_bridge.models import OutboxEvent
from tasks_app.models import Reminder, ReminderStatus, Task
from tasks_app.reminders import reminders_dispatch_due
from tasks_app.services import task_complete, task_create, task_delete, task_update


def make_task_with_reminders(owner: Any, *remind_at: datetime, **fields: Any) -> Task:
    due_at = fields.pop("due_at", max(remind_at, default=timezone.now()) + timedelta(hours=1))
    return task_create(
        owner=owner,
        title="Pay rent",
        due_at=due_at,
        timezone="Europe/Berlin",
        reminders=[{"remind_at": moment} for moment in remind_at],
        **fields,
    )


def _due_events() -> list[dict[str, Any]]:
    return [row.value for row in OutboxEvent.objects.filter(event_type="reminder.due").order_by("id")]


@pytest.mark.django_db
def test_due_reminder_fires_once_and_emits_reminder_due(user: Any) -> None:
    now = timezone.now()
    task = make_task_with_reminders(user, now - timedelta(seconds=1), now + timedelta(minutes=5))

    assert reminders_dispatch_due(now=now) == 1
    assert reminders_dispatch_due(now=now) == 0

    fired, pending = task.reminders.order_by("remind_at")
    assert fired.status == ReminderStatus.FIRED
    assert fired.fired_at == now
    assert fired.late is False
    assert pending.status == ReminderStatus.SCHEDULED
    [event] = _due_events()
    assert event["subject"] == str(task.id)
    assert event["userid"] == str(user.pk)
    assert event["data"]["reminder"]["id"] == str(fired.id)
    assert event["data"]["reminder"]["status"] == "fired"
    assert event["data"]["reminder"]["late"] is False
    assert event["data"]["task"]["title"] == "Pay rent"
    listed = {item["id"]: item["status"] for item in event["data"]["task"]["reminders"]}
    assert listed == {str(fired.id): "fired", str(pending.id): "scheduled"}


@pytest.mark.django_db
def test_reminder_whose_time_passed_during_downtime_fires_late(user: Any, settings: Any) -> None:
    settings.REMINDER_LATE_AFTER_SECONDS = 30
    now = timezone.now()
    make_task_with_reminders(user, now - timedelta(minutes=10), now - timedelta(seconds=5))

    assert reminders_dispatch_due(now=now) == 2

    late = dict(Reminder.objects.values_list("remind_at", "late"))
    assert late == {now - timedelta(minutes=10): True, now - timedelta(seconds=5): False}
    assert sorted(event["data"]["reminder"]["late"] for event in _due_events()) == [False, True]


@pytest.mark.django_db
def test_completing_the_task_before_its_reminder_cancels_it(user: Any) -> None:
    now = timezone.now()
    task = make_task_with_reminders(user, now + timedelta(seconds=3))

    task_complete(task=task)

    assert reminders_dispatch_due(now=now + timedelta(seconds=10)) == 0
    assert task.reminders.get().status == ReminderStatus.CANCELLED
    assert _due_events() == []


@pytest.mark.django_db
def test_deleted_or_rescheduled_tasks_do_not_fire_at_the_old_time(user: Any) -> None:
    now = timezone.now()
    deleted = make_task_with_reminders(user, now + timedelta(seconds=3))
    moved = Task.objects.get(pk=make_task_with_reminders(user, due_at=now + timedelta(seconds=33)).pk)
    task_update(task=moved, reminders=[{"offset_minutes": 0}])
    task_update(task=Task.objects.get(pk=moved.pk), due_at=now + timedelta(hours=2))

    task_delete(task=deleted)

    assert reminders_dispatch_due(now=now + timedelta(minutes=1)) == 0
    assert reminders_dispatch_due(now=now + timedelta(hours=2)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_fire_each_of_1000_reminders_exactly_once(make_user: Any) -> None:
    owner = make_user("load")
    now = timezone.now()
    tasks = Task.objects.bulk_create(
        Task(owner=owner, title=f"task {index}", due_at=now + timedelta(hours=1)) for index in range(1000)
    )
    Reminder.objects.bulk_create(Reminder(task=task, remind_at=now) for task in tasks)
    counts: list[int] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            total = fired = reminders_dispatch_due(now=now, limit=50)
            while fired:
                fired = reminders_dispatch_due(now=now, limit=50)
                total += fired
            counts.append(total)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(counts) == 1000
    assert sum(1 for count in counts if count) > 1  # they really ran side by side
    reminder_ids = [event["data"]["reminder"]["id"] for event in _due_events()]
    assert len(reminder_ids) == len(set(reminder_ids)) == 1000
    assert not Reminder.objects.filter(status=ReminderStatus.SCHEDULED).exists()


@pytest.mark.django_db
def test_a_pass_writes_its_reminder_due_events_to_the_outbox_in_one_statement(user: Any) -> None:
    now = timezone.now()
    tasks = [make_task_with_reminders(user, now - timedelta(seconds=2), now - timedelta(seconds=1)) for _ in range(5)]

    with CaptureQueriesContext(connection) as queries:
        assert reminders_dispatch_due(now=now) == 10

    outbox_inserts = [
        q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "kafka_bridge_outboxevent"')
    ]
    assert len(outbox_inserts) == 1
    events = _due_events()
    assert len(events) == 10
    # Recorded (and so published) in dispatch order: oldest due first.
    assert [event["data"]["reminder"]["remind_at"] for event in events] == sorted(
        event["data"]["reminder"]["remind_at"] for event in events
    )
    assert {event["subject"] for event in events} == {str(task.id) for task in tasks}
