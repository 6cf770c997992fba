from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from tasks_app.models import ReminderStatus, Task
from tasks_app.services import task_complete, task_create, task_delete, task_reopen, task_update

pytestmark = pytest.mark.django_db


def future(days: int = 3) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


def test_create_sends_task_created_and_reminder_scheduled_with_documented_kwargs(user, sent):
    due = future()
    task = task_create(
        owner=user,
        title=" Write report ",
        tags=["Work", "work ", "Home"],
        due_at=due,
        timezone="Europe/Berlin",
        reminders=[{"offset_minutes": 30}, {"remind_at": due - timedelta(days=1)}],
    )
    assert task.title == "Write report"
    assert sorted(t.name for t in task.tags.all()) == ["home", "work"]
    assert sent.names() == ["task_created", "reminder_scheduled", "reminder_scheduled"]
    created = sent.of("task_created")[0]
    assert set(created) == {"task_id", "user_id", "task", "changes"}
    assert created["task_id"] == task.id
    assert created["user_id"] == user.id
    assert created["changes"] == {}
    assert created["task"]["tags"] == ["home", "work"]
    assert created["task"]["due_at"].endswith("+01:00") or created["task"]["due_at"].endswith("+02:00")
    reminder = sent.of("reminder_scheduled")[0]
    assert set(reminder) == {"task_id", "user_id", "reminder", "task"}
    assert set(reminder["reminder"]) == {"id", "task_id", "remind_at", "offset_minutes", "status", "fired_at", "late"}
    assert all(inside for _, _, inside in sent.calls)


def test_recurring_create_starts_a_series_and_rule_needs_due_at(user):
    task = task_create(owner=user, title="Standup", due_at=future(), recurrence_rule="weekdays")
    assert task.recurrence_rule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    assert task.series_id is not None
    with pytest.raises(ApplicationError) as info:
        task_create(owner=user, title="x", recurrence_rule="daily")
    assert "recurrence_rule" in info.value.fields


def test_update_moves_relative_reminders_and_bumps_version_once(user, sent):
    due = future()
    task = task_create(owner=user, title="t", due_at=due, reminders=[{"offset_minutes": 60}])
    sent.clear()
    new_due = due + timedelta(days=1)
    task = task_update(task=task, due_at=new_due, title="t2")
    assert task.version == 2
    assert task.reminders.get().remind_at == new_due - timedelta(hours=1)
    assert sent.names() == ["task_updated", "reminder_scheduled"]
    changes = sent.of("task_updated")[0]["changes"]
    assert set(changes) == {"title", "due_at", "reminders"}
    assert changes["title"] == {"old": "t", "new": "t2"}


def test_update_without_change_sends_nothing(user, sent):
    task = task_create(owner=user, title="t", tags=["a"])
    sent.clear()
    task = task_update(task=task, title="t", tags=["A"])
    assert task.version == 1
    assert sent.calls == []


def test_update_with_stale_version_is_refused(user):
    task = task_create(owner=user, title="t")
    task_update(task=task, title="u")
    with pytest.raises(ApplicationError) as info:
        task_update(task=task, expected_version=1, title="v")
    assert info.value.status == 412


def test_complete_cancels_reminders_reopen_revives_future_ones_and_both_are_idempotent(user, sent):
    task = task_create(owner=user, title="t", due_at=future(), reminders=[{"offset_minutes": 10}])
    sent.clear()
    task = task_complete(task=task)
    assert task.reminders.get().status == ReminderStatus.CANCELLED
    assert sent.names() == ["task_completed", "reminder_cancelled"]
    sent.clear()
    again = task_complete(task=task)
    assert again.version == task.version
    assert sent.calls == []
    task = task_reopen(task=task)
    assert task.reminders.get().status == ReminderStatus.SCHEDULED
    assert sent.names() == ["task_reopened", "reminder_scheduled"]
    sent.clear()
    task_reopen(task=task)
    assert sent.calls == []


def test_delete_cancels_reminders_and_sends_last_representation(user, sent):
    task = task_create(owner=user, title="t", due_at=future(), reminders=[{"offset_minutes": 10}])
    task_id = task.id
    sent.clear()
    task_delete(task=task)
    assert not Task.objects.filter(pk=task_id).exists()
    assert sent.names() == ["task_deleted", "reminder_cancelled"]
    deleted = sent.of("task_deleted")[0]
    assert deleted["task_id"] == task_id
    assert deleted["task"]["reminders"][0]["status"] == "cancelled"
    assert sent.of("reminder_cancelled")[0]["reminder"]["status"] == "cancelled"


def test_clearing_the_rule_keeps_the_series_id(user):
    task = task_create(owner=user, title="t", due_at=datetime(2030, 1, 1, tzinfo=UTC), recurrence_rule="daily")
    series_id = task.series_id
    task = task_update(task=task, recurrence_rule="")
    assert (task.recurrence_rule, task.series_id) == ("", series_id)
