"""tasks_app hands the task's own time zone and due time to recurrence_app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks_app.services import task_create, task_update

pytestmark = pytest.mark.django_db


def test_monthly_preset_reads_the_due_day_in_the_tasks_time_zone(user: Any) -> None:
    # 31 January 23:30 UTC is 1 February 12:30 in Auckland: "monthly" means the 1st, not month-end.
    task = task_create(
        owner=user,
        title="Pay rent",
        due_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
        timezone="Pacific/Auckland",
        recurrence_rule="monthly",
    )
    assert task.recurrence_rule == "FREQ=MONTHLY"


def test_changing_rule_and_due_time_together_anchors_the_series_at_the_new_due_time(user: Any) -> None:
    task = task_create(
        owner=user,
        title="Standup",
        due_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        timezone="UTC",
        recurrence_rule="daily",
    )
    new_due = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    task = task_update(task=task, recurrence_rule="weekly", due_at=new_due)
    task.series.refresh_from_db()
    assert task.series.rule == "FREQ=WEEKLY"
    assert task.series.anchor_at == new_due
