"""Domain signals are sent inside the write's transaction: a rolled-back write leaves no event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from kafka_bridge.models import OutboxEvent
from kafka_bridge.schemas import validate_data
from tasks_app.models import Task
from tasks_app.services import task_complete, task_create, task_delete, task_reopen, task_update

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def fail_after(write) -> None:
    """Run `write` in a transaction that then fails, so it is rolled back."""
    with transaction.atomic():
        write()
        raise Boom


def test_every_signal_is_sent_inside_a_transaction(user, sent):
    task = task_create(
        owner=user, title="t", due_at=timezone.now() + timedelta(days=1), reminders=[{"offset_minutes": 5}]
    )
    task = task_update(task=task, title="u", due_at=task.due_at + timedelta(hours=1))
    task = task_complete(task=task)
    task = task_reopen(task=task)
    task_delete(task=task)
    assert sent.names() == [
        "task_created",
        "reminder_scheduled",
        "task_updated",
        "reminder_scheduled",
        "task_completed",
        "reminder_cancelled",
        "task_reopened",
        "reminder_scheduled",
        "task_deleted",
        "reminder_cancelled",
    ]
    assert all(inside for _, _, inside in sent.calls)


def test_rolled_back_create_leaves_no_task_and_no_outbox_event(user, sent):
    due = timezone.now() + timedelta(days=1)
    with pytest.raises(Boom):
        fail_after(lambda: task_create(owner=user, title="t", due_at=due, reminders=[{"offset_minutes": 5}]))
    assert sent.names() == ["task_created", "reminder_scheduled"]  # sent, but inside the transaction...
    assert not Task.objects.exists()
    assert not OutboxEvent.objects.exists()  # ...so nothing of it persists


def test_rolled_back_update_leaves_no_change_and_no_outbox_event(user):
    task = task_create(owner=user, title="t")
    before = OutboxEvent.objects.count()
    with pytest.raises(Boom):
        fail_after(lambda: task_complete(task=task_update(task=task, title="u")))
    task.refresh_from_db()
    assert (task.title, task.status, task.version) == ("t", "open", 1)
    assert OutboxEvent.objects.count() == before


def test_committed_writes_record_events_matching_the_event_schemas(user):
    task = task_create(
        owner=user, title="t", due_at=timezone.now() + timedelta(days=1), reminders=[{"offset_minutes": 5}]
    )
    task_update(task=task, priority="urgent")
    types = set(OutboxEvent.objects.values_list("event_type", flat=True))
    assert {"task.created", "task.updated", "reminder.scheduled"} <= types
    for event in OutboxEvent.objects.all():
        validate_data(event.event_type, event.value["data"])
