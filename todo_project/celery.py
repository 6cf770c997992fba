"""The Celery app: RabbitMQ work queue, tasks autodiscovered, beat schedule from each app.

Each app may define `BEAT_SCHEDULE` in `<app>/schedules.py`; django-celery-beat's
DatabaseScheduler stores them so staff can also see and pause them in the admin.

Queues: the default one for housekeeping, and one per route in `CELERY_TASK_ROUTES` (e-mail
sends): `worker_queues()`, which a worker started without `--queues` consumes.

A periodic run expires once the next run is due (sooner if its entry says `expires`): after an
overload, the worker discards the runs that waited instead of running each one, and a backlog
of stale runs cannot build up in RabbitMQ.
"""

from __future__ import annotations

import importlib
import math
import os
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import schedule as interval_schedule
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")

app = Celery("todo_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def worker_queues(conf: Any = None) -> list[str]:
    """The default queue, then every queue a route names."""
    conf = conf or app.conf
    routed = {route["queue"] for route in (conf.task_routes or {}).values() if route.get("queue")}
    return [conf.task_default_queue, *sorted(routed - {conf.task_default_queue})]


@app.on_after_configure.connect
def _declare_queues(sender: Celery, **kwargs: object) -> None:
    # Each bound by its own name: without a routing key Celery binds every queue with the
    # default one, and each job would reach all of them.
    sender.conf.task_queues = [Queue(name, routing_key=name) for name in worker_queues(sender.conf)]


def expiring(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` whose runs expire when the next is due (or at its own `expires`, if sooner).

    django-celery-beat passes only `expire_seconds` (whole seconds) on to the runs; an `expires`
    option it drops without a word."""
    options = dict(entry.get("options") or {})
    limits = [options.pop("expires")] if "expires" in options else []
    every = entry["schedule"]
    if isinstance(every, (int, float, timedelta)):
        every = interval_schedule(every)
    if type(every) is interval_schedule:
        limits.append(every.seconds)
    if not limits:
        raise ValueError(f"beat entry {name!r}: a schedule without a fixed interval needs options.expires")
    options["expire_seconds"] = max(1, math.ceil(min(limits)))
    return {**entry, "options": options}


@app.on_after_finalize.connect
def _collect_beat_schedules(sender: Celery, **kwargs: object) -> None:
    from django.apps import apps

    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        for name, entry in getattr(module, "BEAT_SCHEDULE", {}).items():
            sender.conf.beat_schedule[name] = expiring(name, entry)


import core.celery_context  # noqa: E402,F401  (connects the correlation-id signals)
from core import (  # noqa: E402
    celery_connections,  # noqa: F401  (connects the per-job database connection handling)
    celery_metrics,  # noqa: F401  (serves /metrics on METRICS_PORT in worker and beat)
)
