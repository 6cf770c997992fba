"""Reads of recurrence series."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recurrence_app.occurrences import occurrences_after, preview
from tasks_app.models import Task
from tasks_app.representations import isoformat


def task_upcoming_occurrences(*, task: Task, count: int) -> list[datetime]:
    """Up to `count` due times of `task`'s series after `task`, each assumed completed when due.

    Empty when the task does not recur or its series has ended. The series' own rule, start,
    mode and time zone are used (they may differ from an older occurrence's copy).
    """
    series = task.series
    if not task.recurrence_rule or task.due_at is None or series is None or series.ended:
        return []
    is_newest = series.last_occurrence_id in (None, task.id)
    number = series.generated_count if is_newest else max(series.generated_count - 1, 1)
    return occurrences_after(
        rule=series.rule,
        timezone_name=series.timezone,
        dtstart=series.dtstart,
        after=task.due_at,
        count=count,
        mode=series.mode,
        occurrence_number=number - series.anchor_number + 1,
    )


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
