"""The series follows the task writes (signals received inside the write's transaction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recurrence_app.models import Series
from recurrence_app.services import series_generate_next
from tasks_app import services as task_services

pytestmark = pytest.mark.django_db

DUE = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)


def recurring(user: Any, rule: str = "daily", **extra: Any) -> Any:
    return task_services.task_create(owner=user, title="Standup", due_at=DUE, recurrence_rule=rule, **extra)


def test_a_recurring_task_starts_its_series_with_the_task_as_first_occurrence(user: Any) -> None:
    task = recurring(user)
    series = Series.objects.get(pk=task.series_id)
    assert (series.owner_id, series.first_due_at, series.anchor_at, series.generated_count) == (user.id, DUE, DUE, 1)
    assert (series.last_occurrence_id, series.ended) == (None, False)


def test_a_task_without_a_rule_has_no_series_until_it_gets_one(user: Any) -> None:
    task = task_services.task_create(owner=user, title="once", due_at=DUE)
    assert task.series_id is None
    assert not Series.objects.exists()
    task = task_services.task_update(task=task, recurrence_rule="weekly")
    assert Series.objects.get(pk=task.series_id).first_due_at == DUE


def test_changing_rule_and_due_time_together_anchors_the_series_at_the_new_due_time(user: Any) -> None:
    task = recurring(user)
    new_due = datetime(2030, 3, 10, 14, 0, tzinfo=UTC)
    task = task_services.task_update(task=task, recurrence_rule="weekly", due_at=new_due)
    assert task.recurrence_rule == "FREQ=WEEKLY"
    assert Series.objects.get(pk=task.series_id).anchor_at == new_due


def test_a_mode_change_alone_keeps_the_anchor(user: Any) -> None:
    task = recurring(user)
    task = task_services.task_update(task=task, recurrence_mode="completion", due_at=DUE + timedelta(hours=1))
    assert Series.objects.get(pk=task.series_id).anchor_at == DUE


def test_clearing_the_rule_stops_the_series_and_setting_one_revives_it(user: Any) -> None:
    task = recurring(user)
    task = task_services.task_update(task=task, recurrence_rule="")
    assert Series.objects.get(pk=task.series_id).end_reason == "rule_cleared"
    task = task_services.task_update(task=task, recurrence_rule="weekly")
    series = Series.objects.get(pk=task.series_id)
    assert (series.ended, series.end_reason) == (False, "")


def test_only_the_newest_occurrence_steers_the_series(user: Any) -> None:
    first = task_services.task_complete(task=recurring(user))
    second = series_generate_next(completed_task=first)
    task_services.task_update(task=first, recurrence_rule="")
    assert not Series.objects.get(pk=second.series_id).ended
    task_services.task_update(task=second, recurrence_rule="")
    assert Series.objects.get(pk=second.series_id).ended


def test_a_generated_occurrence_joins_its_series(user: Any) -> None:
    first = task_services.task_complete(task=recurring(user))
    second = series_generate_next(completed_task=first)
    assert Series.objects.count() == 1
    series = Series.objects.get(pk=first.series_id)
    assert (series.last_occurrence_id, series.generated_count, series.first_due_at) == (second.id, 2, DUE)
