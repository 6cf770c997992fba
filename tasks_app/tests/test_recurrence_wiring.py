"""A rule is read in the task's own time zone and due time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks_app.services import task_create

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
