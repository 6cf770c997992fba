"""`manage.py dispatch_reminders`: one pass over due reminders, options checked."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from tasks_app.models import ReminderStatus
from tasks_app.services import task_create

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_dispatch_reminders_runs_one_pass_over_due_reminders(user: Any) -> None:
    now = timezone.now()
    task = task_create(
        owner=user,
        title="Pay rent",
        due_at=now + timedelta(hours=2),
        timezone="Europe/Berlin",
        reminders=[{"remind_at": now - timedelta(seconds=1)}, {"remind_at": now + timedelta(hours=1)}],
    )

    assert "done: 1 reminder(s) fired" in _call("dispatch_reminders")
    assert "done: 0 reminder(s) fired" in _call("dispatch_reminders")
    assert sorted(task.reminders.values_list("status", flat=True)) == [ReminderStatus.FIRED, ReminderStatus.SCHEDULED]


def test_dispatch_reminders_rejects_a_non_positive_interval() -> None:
    with pytest.raises(SystemExit):
        _call("dispatch_reminders", "--interval", "0")
