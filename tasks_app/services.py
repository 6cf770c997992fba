"""Every write to tasks, tags and reminders; the only senders of `tasks_app.signals`.

Each service runs in one transaction and sends its domain signals after the rows are written,
still inside that transaction, so what the receivers write (the events' outbox rows, a recurring
chain's state) is rolled back with it; within `outbox_batch()`, all of a change's outbox rows go
in with one INSERT. Signal kwargs are exactly those documented in `tasks_app/signals.py`.

Reminder lifecycle:
- created `scheduled` with the task (or `cancelled` when added to a completed task);
- relative reminders (`offset_minutes`) follow `due_at`: when it changes, pending ones are moved
  (`reminder_scheduled` again with the new time); fired ones stay as they were;
- completing or deleting the task cancels every scheduled one (`reminder_cancelled`);
- reopening reschedules the reminders the completion cancelled whose time is still ahead
  (`reminder_scheduled`); those whose time passed meanwhile stay cancelled;
- replacing the list (`reminders=` in `task_update`) keeps matching pending reminders, deletes
  the others (`reminder_cancelled` for scheduled ones) and adds the new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone as django_timezone

from core.domain_events import outbox_batch
from core.errors import ApplicationError
from core.internals.django import fill_prefetch_cache
from tasks_app import signals
from tasks_app.models import Priority, RecurrenceMode, Reminder, ReminderStatus, Tag, Task, TaskStatus
from tasks_app.representations import reminder_representation, task_representation
from tasks_app.validation import (
    MESSAGES,
    FieldErrors,
    check_relative_reminders,
    clean_due_at,
    clean_mode,
    clean_priority,
    clean_reminders,
    clean_rule,
    normalize_tags,
    normalize_title,
    validate_description,
    validate_timezone,
    validation_error,
)

UPDATABLE_FIELDS = frozenset(
    {
        "title",
        "description",
        "priority",
        "tags",
        "due_at",
        "timezone",
        "recurrence_rule",
        "recurrence_mode",
        "reminders",
    }
)


def precondition_failed(task: Task, expected_version: int) -> ApplicationError:
    return ApplicationError(
        f"The task changed since version {expected_version}; it is now at version {task.version}. "
        "Read it again (GET) and retry with the new ETag in If-Match.",
        code="precondition_failed",
        status=412,
        headers={"ETag": task.etag},
    )


# --- Helpers --------------------------------------------------------------------------------


def _tags_for(owner: AbstractBaseUser, names: list[str]) -> list[Tag]:
    """The owner's tags named `names`, created when missing."""
    if not names:
        return []
    # ON CONFLICT DO NOTHING: two requests adding the same new tag at once both succeed.
    Tag.objects.bulk_create([Tag(owner=owner, name=name) for name in names], ignore_conflicts=True)
    return list(Tag.objects.filter(owner=owner, name__in=names))


# A tag is created once and used many times: the usual create finds every tag it names, and
# reads and links them in this one statement (the ORM would need a SELECT, then an INSERT).
_LINK_EXISTING_TAGS = """
WITH found AS (
    SELECT * FROM tasks_app_tag WHERE owner_id = %s AND name = ANY(%s)
), linked AS (
    INSERT INTO tasks_app_task_tags (task_id, tag_id) SELECT %s, id FROM found
)
SELECT * FROM found
"""


def _link_tags_of_new_task(task: Task, names: list[str]) -> list[Tag]:
    """Link the tags named `names` (created when missing) to a task just inserted; returns them.

    Writes the through table directly: `task.tags.set()` would first read the links a new task
    cannot have yet (it also sends `m2m_changed`, which nothing here listens to).
    """
    if not names:
        return []
    tags = list(Tag.objects.raw(_LINK_EXISTING_TAGS, [task.owner_id, names, task.pk]))
    missing = sorted(set(names) - {tag.name for tag in tags})
    if missing:
        new = _tags_for(task.owner, missing)
        Link = Task.tags.through
        Link.objects.bulk_create([Link(task_id=task.pk, tag_id=tag.pk) for tag in new])
        tags += new
    return tags


def _reload(task: Task) -> Task:
    """A fresh instance with tags and reminders loaded (no stale prefetch caches)."""
    return Task.objects.select_related("owner").prefetch_related("tags", "reminders").get(pk=task.pk)


def _remind_at(spec: Mapping[str, Any], due_at: datetime | None) -> datetime:
    if spec.get("offset_minutes") is not None:
        assert due_at is not None  # checked by check_relative_reminders
        return due_at - timedelta(minutes=spec["offset_minutes"])
    return spec["remind_at"]


def _spec_of(reminder: Reminder) -> dict[str, Any]:
    if reminder.offset_minutes is not None:
        return {"offset_minutes": reminder.offset_minutes}
    return {"remind_at": reminder.remind_at}


def _send_task_signal(signal: Any, task: Task, representation: dict[str, Any], changes: dict | None = None) -> None:
    signal.send(sender=Task, task_id=task.id, user_id=task.owner_id, task=representation, changes=changes or {})


def _send_reminder_signals(signal: Any, task: Task, reminders: Iterable[Reminder], representation: dict) -> None:
    zone = ZoneInfo(task.timezone)
    for reminder in reminders:
        signal.send(
            sender=Reminder,
            task_id=task.id,
            user_id=task.owner_id,
            reminder=reminder_representation(reminder, zone=zone),
            task=representation,
        )


def _lock(task: Task) -> Task:
    return Task.objects.select_for_update().get(pk=task.pk)


# --- Services -------------------------------------------------------------------------------


@transaction.atomic
def task_create(
    *,
    owner: AbstractBaseUser,
    title: str,
    description: str = "",
    priority: str = Priority.MEDIUM,
    tags: Iterable[str] = (),
    due_at: datetime | None = None,
    timezone: str = "UTC",
    recurrence_rule: str = "",
    recurrence_mode: str = RecurrenceMode.SCHEDULE,
    reminders: Iterable[Mapping[str, Any]] = (),
    series_id: uuid.UUID | None = None,
    previous_occurrence: Task | None = None,
) -> Task:
    """Create a task for `owner`; sends `task_created`, then `reminder_scheduled` per reminder.

    A recurrence rule (RRULE or preset, normalised here) needs `due_at`; without `series_id`, the
    task starts a new series (a new id) as its first occurrence. `previous_occurrence` links a
    generated occurrence to the one it follows: it is unique, so a second successor of the same
    task raises `IntegrityError` (the recurrence consumer relies on this).
    Raises `ApplicationError` (400, field messages) for invalid input.
    """
    errors = FieldErrors()
    title = errors.check("title", normalize_title, title)
    description = errors.check("description", validate_description, description)
    priority = errors.check("priority", clean_priority, priority)
    tag_names = errors.check("tags", normalize_tags, tags) or []
    due_at = errors.check("due_at", clean_due_at, due_at)
    timezone = errors.check("timezone", validate_timezone, timezone)
    recurrence_mode = errors.check("recurrence_mode", clean_mode, recurrence_mode)
    specs = errors.check("reminders", clean_reminders, reminders) or []
    rule = clean_rule(errors, recurrence_rule, due_at, timezone)
    check_relative_reminders(errors, specs, due_at)
    errors.raise_if_any()

    if rule and series_id is None:
        series_id = uuid.uuid4()
    task = Task.objects.create(
        owner=owner,
        title=title,
        description=description,
        priority=priority,
        due_at=due_at,
        timezone=timezone,
        recurrence_rule=rule,
        recurrence_mode=recurrence_mode,
        series_id=series_id,
        previous_occurrence=previous_occurrence,
    )
    tag_rows = _link_tags_of_new_task(task, tag_names)
    created = Reminder.objects.bulk_create(
        [
            Reminder(task=task, remind_at=_remind_at(spec, due_at), offset_minutes=spec.get("offset_minutes"))
            for spec in specs
        ]
    )
    # No re-read: every column of the new rows is known here (defaults and timestamps are set
    # in Python, ids returned by the INSERTs), and a reload would cost three queries.
    fill_prefetch_cache(task, {"tags": tag_rows, "reminders": created})
    representation = task_representation(task)
    with outbox_batch():  # the change's events in one outbox INSERT
        _send_task_signal(signals.task_created, task, representation)
        _send_reminder_signals(signals.reminder_scheduled, task, created, representation)
    return task


def _state(task: Task) -> dict[str, Any]:
    """What a change is compared on (instants, not their rendering in a time zone); tags and
    reminders are read from the database, not from a possibly stale prefetch cache."""
    return {
        "title": task.title,
        "description": task.description,
        "priority": task.priority,
        "tags": sorted(Tag.objects.filter(tasks=task).values_list("name", flat=True)),
        "due_at": task.due_at,
        "timezone": task.timezone,
        "recurrence_rule": task.recurrence_rule,
        "recurrence_mode": task.recurrence_mode,
        "series_id": task.series_id,
        "reminders": sorted(
            Reminder.objects.filter(task=task).values_list("id", "remind_at", "offset_minutes", "status")
        ),
    }


@transaction.atomic
def task_update(*, task: Task, expected_version: int | None = None, **fields: Any) -> Task:
    """Change some of a task's fields (those in `UPDATABLE_FIELDS`); returns the fresh task.

    `expected_version` (from If-Match) must equal the current version, else `ApplicationError`
    412. A change bumps `version` once and sends `task_updated` with
    `changes={field: {"old", "new"}}` (representation values), then the reminder signals; an
    update that changes nothing sends nothing. Relative reminders follow a new `due_at`; a task's
    first rule starts a series (a new `series_id`), which it keeps when the rule changes or is
    cleared (the chain's state follows those through `task_updated`). `timezone` alone keeps the
    instant of `due_at` (it is shown in the new zone). Naive datetimes are rejected: callers
    localise them.
    """
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise validation_error({name: [MESSAGES["unknown_field"]] for name in sorted(unknown)})

    task = _lock(task)
    if expected_version is not None and task.version != expected_version:
        raise precondition_failed(task, expected_version)
    task = _reload(task)
    before_state, before = _state(task), task_representation(task)

    errors = FieldErrors()
    if "title" in fields:
        task.title = errors.check("title", normalize_title, fields["title"])
    if "description" in fields:
        task.description = errors.check("description", validate_description, fields["description"])
    if "priority" in fields:
        task.priority = errors.check("priority", clean_priority, fields["priority"])
    tag_names = errors.check("tags", normalize_tags, fields["tags"]) if "tags" in fields else None
    if "due_at" in fields:
        task.due_at = errors.check("due_at", clean_due_at, fields["due_at"])
    if "timezone" in fields:
        task.timezone = errors.check("timezone", validate_timezone, fields["timezone"])
    if "recurrence_mode" in fields:
        task.recurrence_mode = errors.check("recurrence_mode", clean_mode, fields["recurrence_mode"])
    specs = errors.check("reminders", clean_reminders, fields["reminders"]) if "reminders" in fields else None
    errors.raise_if_any()

    rule_input = fields.get("recurrence_rule", task.recurrence_rule)
    task.recurrence_rule = clean_rule(errors, rule_input, task.due_at, task.timezone)
    if errors.fields.get("recurrence_rule") == [MESSAGES["rule_needs_due_at"]] and "recurrence_rule" not in fields:
        # The stored rule is fine; it is due_at that may not go away while the rule is there.
        errors.fields.pop("recurrence_rule")
        errors.add("due_at", MESSAGES["rule_needs_due_at"])
    existing = list(task.reminders.all())
    pending_specs = specs if specs is not None else [_spec_of(r) for r in existing if r.status != ReminderStatus.FIRED]
    check_relative_reminders(errors, pending_specs, task.due_at)
    errors.raise_if_any()

    scheduled, cancelled = _apply_reminders(task, existing, specs)
    if task.recurrence_rule and task.series_id is None:
        task.series_id = uuid.uuid4()
    if tag_names is not None:
        task.tags.set(_tags_for(task.owner, tag_names))
    after_state = _state(task)
    changed = [key for key in after_state if after_state[key] != before_state[key]]
    if not changed:
        return _reload(task)  # nothing was written: no version bump, no signal
    task.version += 1
    task.save()

    task = _reload(task)
    after = task_representation(task)
    changes = {key: {"old": before[key], "new": after[key]} for key in changed}
    with outbox_batch():  # the change's events in one outbox INSERT
        _send_task_signal(signals.task_updated, task, after, changes)
        _send_reminder_signals(signals.reminder_cancelled, task, cancelled, after)
        _send_reminder_signals(signals.reminder_scheduled, task, _refetch(scheduled), after)
    return task


def _refetch(reminders: list[Reminder]) -> list[Reminder]:
    return list(Reminder.objects.filter(pk__in=[r.pk for r in reminders]).order_by("remind_at", "id"))


def _apply_reminders(
    task: Task, existing: list[Reminder], specs: list[dict[str, Any]] | None
) -> tuple[list[Reminder], list[Reminder]]:
    """Bring the reminder rows in line with `specs` (None: keep the set) and `due_at`.

    Returns (reminders to announce as scheduled, reminders to announce as cancelled).
    """
    open_task = task.status == TaskStatus.OPEN
    pending_status = ReminderStatus.SCHEDULED if open_task else ReminderStatus.CANCELLED
    scheduled: list[Reminder] = []
    cancelled: list[Reminder] = []
    kept = [r for r in existing if r.status != ReminderStatus.FIRED]

    if specs is not None:
        wanted = list(specs)
        remaining: list[Reminder] = []
        replaced: list[Reminder] = []
        for reminder in kept:
            spec = _spec_of(reminder)
            if spec in wanted and reminder.status == pending_status:
                wanted.remove(spec)
                remaining.append(reminder)
            else:
                if reminder.status == ReminderStatus.SCHEDULED:
                    reminder.status = ReminderStatus.CANCELLED
                    cancelled.append(reminder)
                replaced.append(reminder)
        # One DELETE by id: an instance's delete() would clear the id that reminder.cancelled names.
        if replaced:
            Reminder.objects.filter(pk__in=[r.pk for r in replaced]).delete()
        kept = remaining
        new = Reminder.objects.bulk_create(
            [
                Reminder(
                    task=task,
                    remind_at=_remind_at(spec, task.due_at),
                    offset_minutes=spec.get("offset_minutes"),
                    status=pending_status,
                )
                for spec in wanted
            ]
        )
        if open_task:
            scheduled.extend(new)

    for reminder in kept:
        if reminder.offset_minutes is None or task.due_at is None:
            continue
        new_time = task.due_at - timedelta(minutes=reminder.offset_minutes)
        if new_time != reminder.remind_at:
            reminder.remind_at = new_time
            reminder.save(update_fields=["remind_at", "updated_at"])
            if reminder.status == ReminderStatus.SCHEDULED:
                scheduled.append(reminder)
    return scheduled, cancelled


def _cancel_scheduled_reminders(task: Task) -> list[Reminder]:
    """Cancel the task's scheduled reminders and return them.

    The rows are locked first: a dispatcher that has just claimed one (FOR UPDATE SKIP LOCKED)
    and marks it fired makes us wait, and PostgreSQL then re-checks the status, so a reminder
    that fired is never reported or stored as cancelled.
    """
    cancelled = list(task.reminders.select_for_update().filter(status=ReminderStatus.SCHEDULED))
    Reminder.objects.filter(pk__in=[r.pk for r in cancelled], status=ReminderStatus.SCHEDULED).update(
        status=ReminderStatus.CANCELLED, updated_at=django_timezone.now()
    )
    return cancelled


@transaction.atomic
def task_complete(*, task: Task) -> Task:
    """Mark the task completed; sends `task_completed`, then `reminder_cancelled` per reminder.

    Idempotent: completing a completed task changes nothing and sends nothing.
    """
    task = _lock(task)
    if task.status == TaskStatus.COMPLETED:
        return _reload(task)
    task.status, task.completed_at, task.version = TaskStatus.COMPLETED, django_timezone.now(), task.version + 1
    task.save(update_fields=["status", "completed_at", "version", "updated_at"])
    cancelled = _cancel_scheduled_reminders(task)
    task = _reload(task)
    representation = task_representation(task)
    with outbox_batch():  # the change's events in one outbox INSERT
        _send_task_signal(signals.task_completed, task, representation)
        _send_reminder_signals(signals.reminder_cancelled, task, _refetch(cancelled), representation)
    return task


@transaction.atomic
def task_reopen(*, task: Task) -> Task:
    """Mark a completed task open again; sends `task_reopened`, then `reminder_scheduled` for each
    reminder the completion cancelled whose time is still ahead (the others stay cancelled).

    Idempotent: reopening an open task changes nothing and sends nothing.
    """
    task = _lock(task)
    if task.status == TaskStatus.OPEN:
        return _reload(task)
    task.status, task.completed_at, task.version = TaskStatus.OPEN, None, task.version + 1
    task.save(update_fields=["status", "completed_at", "version", "updated_at"])
    now = django_timezone.now()
    revived = []
    for reminder in task.reminders.filter(status=ReminderStatus.CANCELLED):
        if reminder.offset_minutes is not None and task.due_at is not None:
            reminder.remind_at = task.due_at - timedelta(minutes=reminder.offset_minutes)
        if reminder.remind_at > now:
            reminder.status = ReminderStatus.SCHEDULED
            reminder.save(update_fields=["remind_at", "status", "updated_at"])
            revived.append(reminder)
    task = _reload(task)
    representation = task_representation(task)
    with outbox_batch():  # the change's events in one outbox INSERT
        _send_task_signal(signals.task_reopened, task, representation)
        _send_reminder_signals(signals.reminder_scheduled, task, _refetch(revived), representation)
    return task


@transaction.atomic
def task_delete(*, task: Task, expected_version: int | None = None) -> None:
    """Delete the task and its reminders; sends `reminder_cancelled` per pending reminder and
    `task_deleted` with the last representation. `expected_version` as in `task_update`.

    The series (if any) is left as it is: completed earlier occurrences still belong to it.
    """
    task = _lock(task)
    if expected_version is not None and task.version != expected_version:
        raise precondition_failed(task, expected_version)
    cancelled = _cancel_scheduled_reminders(task)
    task = _reload(task)
    representation = task_representation(task)
    cancelled = _refetch(cancelled)
    task_id = task.id
    task.delete()
    # The instance keeps its attributes after delete(), so the signals can still describe it.
    task.id = task_id
    with outbox_batch():  # the change's events in one outbox INSERT
        _send_task_signal(signals.task_deleted, task, representation)
        _send_reminder_signals(signals.reminder_cancelled, task, cancelled, representation)
