"""Every write to recurrence series (DESIGN.md section 5): their state, and the next occurrence.

A chain's rule, mode and time zone are stored once, on its tasks; the chain follows its newest
task's. `series_follow_task` keeps the series in step with each task write (called by the
receivers of tasks_app's signals, inside that write's transaction). `series_generate_next`
creates the occurrence after a completed one through `tasks_app.services.task_create` (the
`task.completed` handler and the catch-up job both go through it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from recurrence_app.models import Series
from recurrence_rules.occurrences import next_occurrence
from tasks_app.models import Reminder, Task, TaskStatus
from tasks_app.services import task_create
from tasks_app.validation import OFFSET_MAX_MINUTES

logger = logging.getLogger(__name__)

CATCH_UP_GRACE = timedelta(minutes=10)
CATCH_UP_BATCH = 200
# The task fields a series follows: a change to one of them on the chain's newest task.
STEERING_FIELDS = frozenset({"recurrence_rule", "recurrence_mode", "timezone"})


def series_start(*, series_id: uuid.UUID, owner_id: int, first_due_at: datetime) -> None:
    """The series `series_id` exists, its first occurrence due at `first_due_at`. A series that
    already exists (a generated occurrence joining its chain) is left as it is."""
    Series.objects.bulk_create(
        [
            Series(
                id=series_id,
                owner_id=owner_id,
                first_due_at=first_due_at,
                last_due_at=first_due_at,
                anchor_at=first_due_at,
            )
        ],
        ignore_conflicts=True,
    )


def series_follow_task(
    *,
    task_id: uuid.UUID,
    owner_id: int,
    series_id: uuid.UUID | None,
    rule: str,
    due_at: datetime | None,
    changed: Collection[str],
) -> None:
    """Bring the series of a task just created or changed (`changed`: the names of the fields
    that changed; every one for a creation) in line with it.

    A task that gets a new `series_id` with a rule starts its series. A change of rule, mode or
    time zone on the chain's newest task steers the series: a cleared rule stops it; otherwise
    an ended series lives again, and a new rule or time zone applies from this occurrence on
    (RFC 5545 "this and following"): the rule is re-anchored at `due_at` and COUNT counts from
    there. A mode change alone keeps the anchor. An older occurrence's copy steers nothing.
    Runs in the task write's transaction (no savepoint of its own: it is on every such write).
    """
    if series_id is None:
        return
    if "series_id" in changed:
        if rule and due_at is not None:
            series_start(series_id=series_id, owner_id=owner_id, first_due_at=due_at)
        return
    if not STEERING_FIELDS & set(changed):
        return
    series = Series.objects.select_for_update().filter(pk=series_id).first()
    if series is None or series.last_occurrence_id not in (None, task_id):
        return
    if not rule:
        series_stop(series=series)
        return
    fields = ["ended", "ended_at", "end_reason", "updated_at"]
    if {"recurrence_rule", "timezone"} & set(changed):
        series.anchor_at = due_at or series.last_due_at or series.dtstart
        series.anchor_number = series.generated_count
        fields += ["anchor_at", "anchor_number"]
    series.ended, series.ended_at, series.end_reason = False, None, ""
    series.save(update_fields=fields)


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
    `until` or `exhausted`). The new task copies title, description, priority, tags, the rule,
    mode and time zone, and the reminders as offsets before its due time; it is created through
    `tasks_app.services.task_create`, so it emits its own `task.created`.
    """
    if completed_task.series_id is None:
        return None
    series = Series.objects.select_for_update().filter(pk=completed_task.series_id).first()
    task = Task.objects.prefetch_related("tags", "reminders").filter(pk=completed_task.pk).first()
    if series is None or task is None or task.series_id != series.id:
        return None
    if task.status != TaskStatus.COMPLETED or task.completed_at is None or task.due_at is None:
        return None
    if not task.recurrence_rule:  # a task whose rule was cleared does not continue its chain
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
        rule=task.recurrence_rule,
        timezone_name=task.timezone,
        dtstart=series.dtstart,
        mode=task.recurrence_mode,
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
                timezone=task.timezone,
                recurrence_rule=task.recurrence_rule,
                recurrence_mode=task.recurrence_mode,
                reminders=_reminder_specs(task.reminders.all(), task.due_at),
                series_id=series.id,
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
    newest_of_live_series = Series.objects.filter(pk=OuterRef("series_id"), ended=False).filter(
        Q(last_occurrence_id__isnull=True) | Q(last_occurrence_id=OuterRef("id"))
    )
    return list(
        Task.objects.filter(
            status=TaskStatus.COMPLETED,
            completed_at__lt=cutoff,
            due_at__isnull=False,
            series_id__isnull=False,
            next_occurrence__isnull=True,
        )
        .filter(Exists(newest_of_live_series))
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
