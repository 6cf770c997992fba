"""Celery jobs of recurrence_app (thin: the services do the work)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError

from recurrence_app.services import CATCH_UP_GRACE, series_catch_up


@shared_task(ignore_result=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=5, max_retries=3)
def recurrence_catch_up_task(grace_seconds: float = CATCH_UP_GRACE.total_seconds()) -> int:
    """Create the successors the `task.completed` handler did not (events lost, consumer down
    past retention): completed occurrences of live series without one after `grace_seconds`.
    Returns how many tasks were created."""
    return series_catch_up(grace=timedelta(seconds=grace_seconds))
