"""Writes to recurrence series. Called by tasks_app.services when a task's rule is set or changed."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from recurrence_app.models import Series


@transaction.atomic
def series_create(
    *, owner: AbstractBaseUser, rule: str, mode: str, timezone_name: str, first_due_at: datetime
) -> Series:
    """A new series whose first occurrence is due at `first_due_at`. `rule` is already validated."""
    return Series.objects.create(
        owner=owner, rule=rule, mode=mode, timezone=timezone_name, first_due_at=first_due_at, last_due_at=first_due_at
    )


@transaction.atomic
def series_update_rule(*, series: Series, rule: str, mode: str, timezone_name: str) -> Series:
    """Future occurrences of `series` follow the new rule; an ended series lives again."""
    series.rule, series.mode, series.timezone = rule, mode, timezone_name
    series.ended, series.ended_at, series.end_reason = False, None, ""
    series.save(update_fields=["rule", "mode", "timezone", "ended", "ended_at", "end_reason", "updated_at"])
    return series


@transaction.atomic
def series_stop(*, series: Series, reason: str = "rule_cleared") -> Series:
    """No more occurrences are generated for `series`."""
    if not series.ended:
        series.ended, series.ended_at, series.end_reason = True, timezone.now(), reason
        series.save(update_fields=["ended", "ended_at", "end_reason", "updated_at"])
    return series
