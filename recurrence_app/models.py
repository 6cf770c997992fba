"""Recurrence state: one `Series` row per recurring chain of tasks."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models


class Series(models.Model):
    """Where one recurring chain of tasks stands (DESIGN.md section 5).

    Its id is the `Task.series_id` of the chain's tasks. The rule, mode and time zone are not
    stored here: they are the tasks' own, and the chain follows its newest task's.
    `last_occurrence_id` is that newest generated task (a plain UUID: deleting one must not
    cascade). Only it (or the first, while `last_occurrence_id` is empty) continues the chain.

    `anchor_at` is the start (RFC 5545 DTSTART) the current rule is expanded from: the first due
    time, or the due time of the occurrence at which the rule or time zone last changed (a change
    applies to "this and the following" occurrences). `anchor_number` is that occurrence's number
    in the series, so a completion-mode COUNT counts from it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="series")
    first_due_at = models.DateTimeField()
    last_occurrence_id = models.UUIDField(null=True, blank=True)
    last_due_at = models.DateTimeField(null=True, blank=True)
    generated_count = models.PositiveIntegerField(default=1, help_text="occurrences so far, the first included")
    anchor_at = models.DateTimeField(null=True, blank=True, help_text="DTSTART of the current rule")
    anchor_number = models.PositiveIntegerField(default=1, help_text="the occurrence number of anchor_at")
    ended = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "series"
        indexes = [models.Index(fields=["ended", "updated_at"])]

    def __str__(self) -> str:
        return f"series {self.id}"

    @property
    def dtstart(self) -> datetime:
        return self.anchor_at or self.first_due_at
