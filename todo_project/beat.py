"""Celery beat's scheduler: django-celery-beat's DatabaseScheduler, keeping sub-second intervals.

django-celery-beat stores an interval schedule in whole seconds (`IntervalSchedule.from_schedule`
puts `run_every.total_seconds()` into an integer column), so the 0.5 s reminder dispatch entry
came back from the database as every 0 seconds: always due, and beat sent it in a hot loop (up to
~800 runs a second) from its first reload of the stored entries on. An interval with a fraction
of a second is stored in microseconds, a period the model has, and read back exactly.
"""

from __future__ import annotations

from typing import Any

from celery import schedules
from django_celery_beat.models import IntervalSchedule
from django_celery_beat.schedulers import DatabaseScheduler as _DatabaseScheduler
from django_celery_beat.schedulers import ModelEntry


class SubSecondModelEntry(ModelEntry):
    @classmethod
    def to_model_schedule(cls, schedule: Any) -> tuple[Any, str]:
        schedule = schedules.maybe_schedule(schedule)
        if type(schedule) is schedules.schedule:
            seconds = schedule.run_every.total_seconds()
            if seconds != int(seconds):
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=round(seconds * 1_000_000), period=IntervalSchedule.MICROSECONDS
                )
                return interval, "interval"
        return super().to_model_schedule(schedule)


class DatabaseScheduler(_DatabaseScheduler):
    Entry = SubSecondModelEntry
