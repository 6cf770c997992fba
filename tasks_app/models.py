"""Tasks, their tags and reminders, and the Idempotency-Key records of task creation.

Writes go through `tasks_app.services` only (they keep `version` and reminders consistent and send
the domain signals); reads through `tasks_app.selectors`. A task's recurrence rule, mode and time
zone are stored here only; where each chain stands is kept by its consumer, not here.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from recurrence_rules import occurrences

# "simple" keeps every word as written (lower-cased, no stemming, no stop words): search works
# the same for any language, and prefix queries (`meet:*`) cover plural and verb forms.
SEARCH_CONFIG = "simple"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


# The sort order of priorities: `ordering=priority` is low → urgent, `-priority` urgent first.
PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class RecurrenceMode(models.TextChoices):
    """How the next occurrence is found: on the rule's dates, or by restarting the rule at completion."""

    SCHEDULE = occurrences.SCHEDULE, "On schedule"
    COMPLETION = occurrences.COMPLETION, "After completion"


class ReminderStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    FIRED = "fired", "Fired"
    CANCELLED = "cancelled", "Cancelled"


class Tag(models.Model):
    """A user's label. Names are stored trimmed and lower-cased; unique per owner."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint("owner", Lower("name"), name="tag_owner_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    # Kept equal to PRIORITY_RANK[priority] by `save()`, so ordering by priority uses an index.
    priority_rank = models.PositiveSmallIntegerField(default=PRIORITY_RANK[Priority.MEDIUM], editable=False)
    tags = models.ManyToManyField(Tag, related_name="tasks", blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone name")
    recurrence_rule = models.TextField(blank=True, default="", help_text="normalised RRULE, or empty")
    recurrence_mode = models.CharField(max_length=16, choices=RecurrenceMode.choices, default=RecurrenceMode.SCHEDULE)
    # The recurring chain the task belongs to: set when it first gets a rule and copied to each
    # next occurrence. The chain's state (its series) is kept under this id by its consumer.
    series_id = models.UUIDField(null=True, blank=True, db_index=True)
    # Unique: a completed occurrence has at most one successor, however often the completion
    # event is delivered (DESIGN.md section 5).
    previous_occurrence = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_occurrence"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Maintained by PostgreSQL itself (a stored generated column), so no write path can forget it.
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("description", weight="B", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            # Keyword search: (owner, tsvector) in one GIN index (btree_gin), so a search of one
            # user's 100k tasks touches only that user's matching rows.
            GinIndex(fields=["owner", "search_vector"], name="task_owner_search_gin"),
            models.Index(fields=["owner", "status", "due_at"], name="task_owner_status_due"),
            models.Index(fields=["owner", "due_at"], name="task_owner_due"),
            models.Index(fields=["owner", "priority_rank", "created_at"], name="task_owner_priority"),
            models.Index(fields=["owner", "created_at"], name="task_owner_created"),
            models.Index(fields=["owner", "updated_at"], name="task_owner_updated"),
            models.Index("owner", Lower("title"), name="task_owner_title_ci"),
            models.Index(
                fields=["owner", "due_at"],
                name="task_owner_recurring_due",
                condition=~Q(recurrence_rule=""),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: object, **kwargs: object) -> None:
        self.priority_rank = PRIORITY_RANK.get(self.priority, PRIORITY_RANK[Priority.MEDIUM])
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "priority" in update_fields:
            kwargs["update_fields"] = {*update_fields, "priority_rank"}
        super().save(*args, **kwargs)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


class Reminder(models.Model):
    """A moment to remind the owner of a task.

    `remind_at` is always set: given absolutely, or `due_at - offset_minutes` for a relative
    reminder (moved by the services whenever the task's `due_at` changes). The notifications
    dispatcher claims `scheduled` rows whose `remind_at` has passed and marks them `fired`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reminders")
    remind_at = models.DateTimeField()
    offset_minutes = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReminderStatus.choices, default=ReminderStatus.SCHEDULED)
    fired_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False, help_text="fired noticeably after remind_at")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["remind_at", "id"]
        indexes = [
            models.Index(
                fields=["remind_at"],
                name="reminder_due_scheduled",
                condition=Q(status=ReminderStatus.SCHEDULED),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remind_at.isoformat()} ({self.status})"

    @property
    def is_relative(self) -> bool:
        return self.offset_minutes is not None


class IdempotencyKeyStatus(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    COMPLETED = "completed", "Completed"


class IdempotencyKey(models.Model):
    """The first response to a POST carrying an `Idempotency-Key` header, per user, for 24 h.

    The row is committed as `in_flight` before the work starts (a concurrent repeat sees it and
    gets 409) and completed with the response in the same transaction as the work.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=64, help_text="the operation, e.g. task_create")
    request_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=IdempotencyKeyStatus.choices, default=IdempotencyKeyStatus.IN_FLIGHT
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_user_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
