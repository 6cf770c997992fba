"""Reads of recurrence series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recurrence_app.models import Series
from recurrence_rules.occurrences import occurrences_after, preview
from recurrence_rules.rules import describe_rule
from tasks_app.models import Task
from tasks_app.representations import isoformat


@dataclass(frozen=True)
class Upcoming:
    """The next due times of a task's chain, and its rule in words (empty when there are none)."""

    occurrences: list[datetime]
    text: str


def _steering_task(task: Task, series: Series) -> Task:
    """The chain's newest task, whose rule, mode and time zone the chain follows; `task` itself
    when it is the newest or the newest is gone."""
    if series.last_occurrence_id in (None, task.id):
        return task
    return Task.objects.filter(pk=series.last_occurrence_id).first() or task


def task_upcoming_occurrences(*, task: Task, count: int) -> Upcoming:
    """Up to `count` due times of `task`'s series after `task`, each assumed completed when due.

    Empty when the task does not recur or its series has ended. The chain's newest task gives
    the rule, mode and time zone (they may differ from an older occurrence's copy).
    """
    series = Series.objects.filter(pk=task.series_id).first() if task.series_id else None
    if not task.recurrence_rule or task.due_at is None or series is None or series.ended:
        return Upcoming([], "")
    steering = _steering_task(task, series)
    if not steering.recurrence_rule:
        return Upcoming([], "")
    is_newest = series.last_occurrence_id in (None, task.id)
    number = series.generated_count if is_newest else max(series.generated_count - 1, 1)
    moments = occurrences_after(
        rule=steering.recurrence_rule,
        timezone_name=steering.timezone,
        dtstart=series.dtstart,
        after=task.due_at,
        count=count,
        mode=steering.recurrence_mode,
        occurrence_number=number - series.anchor_number + 1,
    )
    return Upcoming(moments, describe_rule(steering.recurrence_rule) if moments else "")


def recurrence_preview(
    *, recurrence_rule: str, due_at: datetime, timezone: str, count: int, recurrence_mode: str
) -> dict[str, Any]:
    """`{occurrences, text, ends, recurrence_rule}` of a rule validated by `PreviewInputSerializer`
    (its validated data are the keyword arguments): the answer of the REST preview and MCP tool."""
    result = preview(rule=recurrence_rule, due_at=due_at, timezone_name=timezone, count=count, mode=recurrence_mode)
    return {
        "occurrences": [isoformat(moment, moment.tzinfo) for moment in result.occurrences],
        "text": result.text,
        "ends": result.ends,
        "recurrence_rule": recurrence_rule,
    }
