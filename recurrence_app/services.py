"""Writes to recurrence series (DESIGN.md section 5).

`series_create`, `series_update_rule` and `series_stop` are called by `tasks_app.services` when a
task's rule is set, changed or cleared. `series_generate_next` creates the occurrence after a
completed one (the `task.completed` handler and the catch-up job both go through it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from recurrence_app.models import Series
from recurrence_app.occurrences import next_occurrence
from tasks_app.models import Reminder, Task, TaskStatus
from tasks_app.validation import OFFSET_MAX_MINUTES

logger = logging.getLogger(__name__)

CATCH_UP_GRACE = timedelta(minutes=10)
CATCH_UP_BATCH = 200


@transaction.atomic
def series_create(
    *, owner: AbstractBaseUser, rule: str, mode: str, timezone_name: str, first_due_at: datetime
) -> Series:
    """A new series whose first occurrence is due at `first_due_at`. `rule` is already validated."""
    return Series.objects.create(
        owner=owner,
        rule=rule,
        mode=mode,
        timezone=timezone_name,
        first_due_at=first_due_at,
        last_due_at=first_due_at,
        anchor_at=first_due_at,
    )


@transaction.atomic
def series_update_rule(
    *, series: Series, rule: str, mode: str, timezone_name: str, due_at: datetime | None = None
) -> Series:
    """Future occurrences of `series` follow the new rule; an ended series lives again.

    A new rule or time zone applies from the current occurrence on (RFC 5545 "this and
    following"): the rule is re-anchored at `due_at` (the current occurrence's due time; by
    default the last generated one's) and COUNT counts from there. A mode change alone keeps the
    anchor.
    """
    if (rule, timezone_name) != (series.rule, series.timezone):
        series.anchor_at = due_at or series.last_due_at or series.dtstart
        series.anchor_number = series.generated_count
    series.rule, series.mode, series.timezone = rule, mode, timezone_name
    series.ended, series.ended_at, series.end_reason = False, None, ""
    series.save(
        update_fields=[
            "rule",
            "mode",
            "timezone",
            "anchor_at",
            "anchor_number",
            "ended",
            "ended_at",
            "end_reason",
            "updated_at",
        ]
    )
    return series


@transaction.atomic
def series_stop(*, series: Series, reason: str = "rule_cleared") -> Series:
    """No more occurrences are generated for `series`."""
    if not series.ended:
        series.ended, series.ended_at, series.end_reason = True, timezone.now(), reason
        series.save(update_fields=["ended", "ended_at", "end_reason", "updated_at"])
    return series


def _reminder_specs(reminders: Iterable[Reminder], due_at: datetime | None) -> list[dict[str, Any]]:
    """The completed occurrence's reminders as offsets before the due time, for the next one.

    Relative reminders keep their offset; an absolute one becomes the offset it had before the
    old due time (a reminder "at 08:00" for a 09:00 task is one hour before the next one too).
    Absolute reminders after the due time, or too far before it, have no meaning for the next
    occurrence and are dropped.
    """
    specs: list[dict[str, Any]] = []
    for reminder in reminders:
        offset = reminder.offset_minutes
        if offset is None and due_at is not None:
            seconds = (due_at - reminder.remind_at).total_seconds()
            offset = int(seconds // 60) if seconds >= 0 else None
        if offset is not None and offset <= OFFSET_MAX_MINUTES and {"offset_minutes": offset} not in specs:
            specs.append({"offset_minutes": offset})
    return specs


def _end(series: Series, reason: str) -> None:
    series.ended, series.ended_at, series.end_reason = True, timezone.now(), reason
    series.save(update_fields=["ended", "ended_at", "end_reason", "updated_at"])
    logger.info("recurrence series %s ended (%s)", series.id, reason)


@transaction.atomic
def series_generate_next(*, completed_task: Task) -> Task | None:
    """Create the occurrence after `completed_task`, or return None when there is none to create.

    Exactly one successor per completed occurrence: the series row is locked, only the chain's
    newest occurrence continues it (so an earlier one reopened and completed again, or one whose
    successor was deleted, creates nothing), and the unique `Task.previous_occurrence` is the
    final guard: a concurrent creation that loses the race hits it in a savepoint and returns
    None. Skipped (None) as well: a task that is gone, open again, not in a live series, or
    whose series has no further instance (then the series is marked ended, reason `count`,
    `until` or `exhausted`). The new task copies title, description, priority, tags, the
    series' rule, mode and time zone, and the reminders as offsets before its due time; it is
    created through `tasks_app.services.task_create`, so it emits its own `task.created`.
    """
    # Imported here: tasks_app.services imports this module (series_create and friends).
    from tasks_app.services import task_create

    if completed_task.series_id is None:
        return None
    series = Series.objects.select_for_update().filter(pk=completed_task.series_id).first()
    task = Task.objects.prefetch_related("tags", "reminders").filter(pk=completed_task.pk).first()
    if series is None or task is None or task.series_id != series.id:
        return None
    if task.status != TaskStatus.COMPLETED or task.completed_at is None or task.due_at is None:
        return None
    if series.ended or series.last_occurrence_id not in (None, task.id):
        return None
    if Task.objects.filter(previous_occurrence=task).exists():
        return None
    if series.generated_count == series.anchor_number and task.due_at != series.dtstart:
        # The occurrence the rule starts from was moved before anything followed it (a corrected
        # due time): the series starts from where it is now.
        series.anchor_at = task.due_at

    following = next_occurrence(
        rule=series.rule,
        timezone_name=series.timezone,
        dtstart=series.dtstart,
        mode=series.mode,
        due_at=task.due_at,
        completed_at=task.completed_at,
        occurrence_number=series.generated_count - series.anchor_number + 2,
    )
    if following.due_at is None:
        series.save(update_fields=["anchor_at"])
        _end(series, following.end_reason)
        return None

    try:
        with transaction.atomic():
            created = task_create(
                owner=task.owner,
                title=task.title,
                description=task.description,
                priority=task.priority,
                tags=[tag.name for tag in task.tags.all()],
                due_at=following.due_at,
                timezone=series.timezone,
                recurrence_rule=series.rule,
                recurrence_mode=series.mode,
                reminders=_reminder_specs(task.reminders.all(), task.due_at),
                series=series,
                previous_occurrence=task,
            )
    except IntegrityError:
        if Task.objects.filter(previous_occurrence=task).exists():
            return None  # another handler created it first
        raise

    series.last_occurrence_id, series.last_due_at = created.id, created.due_at
    series.generated_count += 1  # the row is locked: no lost update
    series.save(update_fields=["anchor_at", "last_occurrence_id", "last_due_at", "generated_count", "updated_at"])
    return created


def catch_up_candidates(*, now: datetime | None = None, grace: timedelta = CATCH_UP_GRACE) -> list[uuid.UUID]:
    """Ids of completed occurrences that should have a successor by now and do not: the newest
    of a live series, completed more than `grace` ago (the consumer normally takes well under a
    second), with no `next_occurrence`."""
    cutoff = (now or timezone.now()) - grace
    return list(
        Task.objects.filter(
            status=TaskStatus.COMPLETED,
            completed_at__lt=cutoff,
            due_at__isnull=False,
            series__ended=False,
            next_occurrence__isnull=True,
        )
        .filter(Q(series__last_occurrence_id__isnull=True) | Q(series__last_occurrence_id=F("id")))
        .order_by("completed_at")
        .values_list("id", flat=True)[:CATCH_UP_BATCH]
    )


def series_catch_up(*, now: datetime | None = None, grace: timedelta = CATCH_UP_GRACE) -> int:
    """Generate the missing successors (see `catch_up_candidates`) through `series_generate_next`,
    each in its own transaction so one failure does not hold back the others. Returns how many
    tasks were created."""
    created = 0
    for task_id in catch_up_candidates(now=now, grace=grace):
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            continue
        try:
            if series_generate_next(completed_task=task) is not None:
                created += 1
                logger.warning("recurrence catch-up created the successor of task %s", task_id)
        except Exception:  # one broken task must not stop the repair of the others
            logger.exception("recurrence catch-up failed for task %s", task_id)
    return created
