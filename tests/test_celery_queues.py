"""The Celery app's queues and beat entries (todo_project/celery.py): e-mail sends never wait
behind housekeeping, and a periodic run expires once the next run is due."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from celery.schedules import maybe_schedule
from celery.schedules import schedule as interval_schedule
from celery.utils.imports import symbol_by_name
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from todo_project.celery import app, worker_queues

DISPATCH = "tasks-dispatch-reminders"

EMAIL_SEND = "notifications_app.tasks.send_notification_task"
HOUSEKEEPING = (
    "tasks_app.tasks.dispatch_reminders_task",
    "kafka_bridge.tasks.relay_outbox_task",
    "sync_app.prune_sync_updates",
)


def routed_queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_email_sends_have_a_queue_of_their_own_named_after_the_default_one():
    default = settings.CELERY_TASK_DEFAULT_QUEUE  # this test run's own
    assert routed_queue(EMAIL_SEND) == f"{default}.email"
    assert {routed_queue(name) for name in HOUSEKEEPING} == {default}


def test_a_worker_without_queue_options_consumes_each_queue_by_its_own_binding():
    queues = app.amqp.queues
    assert list(queues) == worker_queues() == [settings.CELERY_TASK_DEFAULT_QUEUE, routed_queue(EMAIL_SEND)]
    # One binding each: a shared routing key would deliver every job to both queues.
    assert len({queue.routing_key for queue in queues.values()}) == len(queues)


# The scheduler closes connections found inside a transaction, as a test's would be.
@pytest.mark.django_db(transaction=True)
def test_every_periodic_run_expires_once_the_next_run_is_due():
    app.finalize(auto=True)
    scheduler = symbol_by_name(settings.CELERY_BEAT_SCHEDULER)(app=app)  # stores the schedule, as beat does
    entries = scheduler.schedule
    assert set(app.conf.beat_schedule) <= set(entries)
    for name, entry in app.conf.beat_schedule.items():
        stored = PeriodicTask.objects.get(name=name)
        # What beat passes to each run's apply_async: the run is discarded once this has passed.
        assert entries[name].options.get("expires") == stored.expire_seconds, name
        every = entry["schedule"]
        if type(every) is interval_schedule:
            assert stored.expire_seconds == max(1, math.ceil(every.seconds)), name
        else:
            assert stored.expire_seconds, name


@pytest.mark.django_db(transaction=True)
def test_beat_reads_each_interval_back_from_the_database_as_it_was_set_sub_second_ones_included():
    app.finalize(auto=True)
    scheduler = symbol_by_name(settings.CELERY_BEAT_SCHEDULER)(app=app)
    reloaded = scheduler.all_as_schedule()  # what beat runs after it reloads the stored entries
    schedules = {name: maybe_schedule(entry["schedule"]) for name, entry in app.conf.beat_schedule.items()}
    intervals = {name: every.run_every for name, every in schedules.items() if type(every) is interval_schedule}
    assert intervals[DISPATCH] == timedelta(seconds=settings.REMINDER_DISPATCH_INTERVAL_SECONDS) < timedelta(seconds=1)
    for name, every in intervals.items():
        # Stored in whole seconds, 0.5 s came back as 0: always due, sent in a hot loop.
        assert reloaded[name].schedule.run_every == every, name
