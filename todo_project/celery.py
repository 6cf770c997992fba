"""The Celery app: RabbitMQ work queue, tasks autodiscovered, beat schedule from each app.

Each app may define `BEAT_SCHEDULE` in `<app>/schedules.py`; django-celery-beat's
DatabaseScheduler stores them so staff can also see and pause them in the admin.
"""

from __future__ import annotations

import importlib
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")

app = Celery("todo_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
        sender.conf.beat_schedule.update(getattr(module, "BEAT_SCHEDULE", {}))


import core.celery_context  # noqa: E402,F401  (connects the correlation-id signals)
from core import celery_metrics  # noqa: E402,F401  (serves /metrics on METRICS_PORT in worker and beat)
