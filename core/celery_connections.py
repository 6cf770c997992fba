"""Gives each Celery job Django's per-request database connection handling.

Celery's Django fixup closes the worker thread's connection before and after every job unless
`CELERY_DB_REUSE_MAX` is set (settings.py sets it), so each job would open a PostgreSQL
connection of its own. Instead, as around a web request, a connection is closed only when it is
obsolete (CONN_MAX_AGE) or unusable after an error; CONN_HEALTH_CHECKS makes the next job check
a reused one, so a PostgreSQL restart costs one reconnect, not a failed job. A job run eagerly
(`apply()`, in its caller's thread) is left alone, as the fixup leaves it: its connection is the
caller's, possibly inside the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections


def _close_old_connections(task: Any) -> None:
    if task is None or not getattr(task.request, "is_eager", False):
        close_old_connections()


@task_prerun.connect
def _close_old_connections_before_job(task: Any = None, **kwargs: Any) -> None:
    _close_old_connections(task)


@task_postrun.connect
def _close_old_connections_after_job(task: Any = None, **kwargs: Any) -> None:
    _close_old_connections(task)
