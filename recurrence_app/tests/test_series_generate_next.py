"""`series_generate_next` and the catch-up against the real database (no broker needed)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.utils import timezone

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError
from recurrence_app.kafka_handlers import handle_task_completed
from recurrence_app.models import Series
from recurrence_app.services import series_catch_up, series_generate_next
from recurrence_app.tasks import recurrence_catch_up_task
from tasks_app import services as task_services
from tasks_app.models import Task, TaskStatus
from tasks_app.representations import task_representation

BERLIN = ZoneInfo("Europe/Berlin")


def future(days: int = 2, hour: int = 9) -> datetime:
    moment = (timezone.now() + timedelta(days=days)).astimezone(BERLIN)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def recurring(user: Any, rule: str = "daily", **extra: Any) -> Task:
    fields = {
        "title": "Water the plants",
        "description": "balcony",
        "priority": "high",
        "tags": ["home", "garden"],
        "due_at": future(),
        "timezone": "Europe/Berlin",
        "recurrence_rule": rule,
        "reminders": [{"offset_minutes": 30}],
        **extra,
    }
    return task_services.task_create(owner=user, **fields)


def complete(task: Task, at: datetime | None = None) -> Task:
    task = task_services.task_complete(task=task)
    if at is not None:
        Task.objects.filter(pk=task.pk).update(completed_at=at)
        task.refresh_from_db()
    return task


def successors(task: Task) -> list[Task]:
    return list(Task.objects.filter(previous_occurrence=task))


@pytest.mark.django_db
def test_the_next_occurrence_copies_the_task_and_reanchors_its_reminders(user: Any) -> None:
    task = recurring(user, reminders=[{"offset_minutes": 30}, {"remind_at": future() - timedelta(hours=2)}])
    complete(task)

    created = series_generate_next(completed_task=task)

    assert created is not None
    assert created.due_at == task.due_at + timedelta(days=1)
    assert (created.title, created.description, created.priority) == ("Water the plants", "balcony", "high")
    assert sorted(tag.name for tag in created.tags.all()) == ["garden", "home"]
    assert (created.recurrence_rule, created.recurrence_mode, created.timezone) == (
        "FREQ=DAILY",
        "schedule",
        "Europe/Berlin",
    )
    assert created.series_id == task.series_id
    assert created.previous_occurrence_id == task.id
    assert created.status == TaskStatus.OPEN
    reminders = sorted(created.reminders.all(), key=lambda r: r.remind_at)
    assert [r.offset_minutes for r in reminders] == [120, 30]
    assert [r.remind_at for r in reminders] == [
        created.due_at - timedelta(hours=2),
        created.due_at - timedelta(minutes=30),
    ]
    assert all(r.status == "scheduled" for r in reminders)

    series = Series.objects.get(pk=task.series_id)
    assert (series.last_occurrence_id, series.last_due_at, series.generated_count) == (created.id, created.due_at, 2)
    assert not series.ended


@pytest.mark.django_db
def test_generating_twice_for_the_same_completion_creates_one(user: Any) -> None:
    task = complete(recurring(user))
    assert series_generate_next(completed_task=task) is not None
    assert series_generate_next(completed_task=task) is None
    assert len(successors(task)) == 1
    assert Series.objects.get(pk=task.series_id).generated_count == 2


@pytest.mark.django_db
def test_reopen_and_complete_again_creates_no_second_successor(user: Any) -> None:
    task = complete(recurring(user))
    series_generate_next(completed_task=task)
    task = task_services.task_reopen(task=task)
    assert series_generate_next(completed_task=task) is None  # open again: skipped
    task = complete(task)
    assert series_generate_next(completed_task=task) is None
    assert len(successors(task)) == 1


@pytest.mark.django_db
def test_an_earlier_occurrence_whose_successor_was_deleted_does_not_restart_the_chain(user: Any) -> None:
    first = complete(recurring(user))
    second = series_generate_next(completed_task=first)
    task_services.task_delete(task=second)
    first = complete(task_services.task_reopen(task=first))
    assert series_generate_next(completed_task=first) is None
    assert not successors(first)


@pytest.mark.django_db
def test_the_chain_continues_from_each_newest_occurrence(user: Any) -> None:
    task = recurring(user, rule="FREQ=WEEKLY;BYDAY=MO,TH")
    dues = [task.due_at]
    for _ in range(4):
        complete(task, at=task.due_at - timedelta(hours=1))
        task = series_generate_next(completed_task=task)
        dues.append(task.due_at)
    local = [due.astimezone(BERLIN) for due in dues]
    assert all(moment.hour == 9 for moment in local)
    assert [moment.strftime("%a") for moment in local[1:]] in (["Mon", "Thu"] * 2, ["Thu", "Mon"] * 2)
    assert Series.objects.get(pk=task.series_id).generated_count == 5


@pytest.mark.django_db
def test_an_overdue_completion_skips_to_the_first_occurrence_after_it(user: Any) -> None:
    task = recurring(user, due_at=datetime(2026, 1, 5, 9, tzinfo=BERLIN))
    completed_at = timezone.now()
    complete(task, at=completed_at)
    created = series_generate_next(completed_task=task)
    assert created.due_at > completed_at
    assert created.due_at - completed_at <= timedelta(days=1)
    assert created.due_at.astimezone(BERLIN).hour == 9


@pytest.mark.django_db
def test_completion_mode_restarts_from_the_completion_date(user: Any) -> None:
    task = recurring(user, rule="FREQ=DAILY;INTERVAL=3", recurrence_mode="completion")
    completed_at = task.due_at + timedelta(days=1, hours=5)  # the day after, at 14:00
    complete(task, at=completed_at)
    created = series_generate_next(completed_task=task)
    assert created.due_at == task.due_at + timedelta(days=4)
    assert created.recurrence_mode == "completion"


@pytest.mark.parametrize("mode", ["schedule", "completion"])
@pytest.mark.django_db
def test_count_3_stops_after_the_third_and_the_series_records_it(user: Any, mode: str) -> None:
    task = recurring(user, rule="FREQ=DAILY;COUNT=3", recurrence_mode=mode)
    created = []
    for _ in range(3):
        complete(task, at=task.due_at)
        following = series_generate_next(completed_task=task)
        if following is None:
            break
        created.append(following)
        task = following
    assert len(created) == 2  # the first task plus two generated: three occurrences
    series = Series.objects.get(pk=task.series_id)
    assert (series.ended, series.end_reason, series.generated_count) == (True, "count", 3)
    assert series.ended_at is not None


@pytest.mark.django_db
def test_until_ends_the_series(user: Any) -> None:
    due = future()
    until = (due + timedelta(days=1)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    task = recurring(user, rule=f"FREQ=DAILY;UNTIL={until}", due_at=due)
    second = series_generate_next(completed_task=complete(task, at=due))
    assert second.due_at == due + timedelta(days=1)
    assert series_generate_next(completed_task=complete(second, at=second.due_at)) is None
    series = Series.objects.get(pk=task.series_id)
    assert (series.ended, series.end_reason) == (True, "until")


@pytest.mark.django_db
def test_the_monthly_preset_on_the_31st_does_not_creep(user: Any) -> None:
    task = recurring(user, rule="monthly", due_at=datetime(2027, 1, 31, 9, tzinfo=BERLIN))
    days = []
    for _ in range(3):
        complete(task, at=task.due_at)
        task = series_generate_next(completed_task=task)
        days.append(task.due_at.astimezone(BERLIN).date().isoformat())
    assert days == ["2027-02-28", "2027-03-31", "2027-04-30"]


@pytest.mark.django_db
def test_a_rule_change_applies_from_the_current_occurrence(user: Any) -> None:
    task = recurring(user, rule="daily")
    task = task_services.task_update(task=task, recurrence_rule="FREQ=WEEKLY;INTERVAL=2")
    complete(task, at=task.due_at)
    created = series_generate_next(completed_task=task)
    assert created.due_at == task.due_at + timedelta(weeks=2)
    assert created.recurrence_rule == "FREQ=WEEKLY;INTERVAL=2"


@pytest.mark.django_db
def test_moving_the_first_occurrence_before_completing_moves_the_series(user: Any) -> None:
    task = recurring(user, rule="FREQ=WEEKLY")
    moved = task.due_at + timedelta(days=1, hours=1)
    task = task_services.task_update(task=task, due_at=moved)
    created = series_generate_next(completed_task=complete(task, at=moved))
    assert created.due_at == moved + timedelta(weeks=1)
    # A later occurrence moved by the user is a one-off: the series keeps its own days.
    later = task_services.task_update(task=created, due_at=created.due_at + timedelta(days=2))
    third = series_generate_next(completed_task=complete(later, at=later.due_at))
    assert third.due_at == moved + timedelta(weeks=2)


@pytest.mark.django_db
def test_a_cleared_rule_stops_the_series(user: Any) -> None:
    task = recurring(user)
    task = task_services.task_update(task=task, recurrence_rule="")
    complete(task)
    assert series_generate_next(completed_task=task) is None
    assert Series.objects.get(pk=task.series_id).end_reason == "rule_cleared"


@pytest.mark.django_db
def test_tasks_that_do_not_recur_or_are_open_are_skipped(user: Any) -> None:
    plain = complete(task_services.task_create(owner=user, title="once", due_at=future()))
    assert series_generate_next(completed_task=plain) is None
    open_task = recurring(user)
    assert series_generate_next(completed_task=open_task) is None
    assert Task.objects.count() == 2


# --- the Kafka handler, called directly ----------------------------------------------------------


def completed_event(task: Task) -> CloudEvent:
    return CloudEvent(
        type="task.completed",
        source="/tasks",
        subject=str(task.id),
        userid=str(task.owner_id),
        data={"task": task_representation(task), "changes": {}},
    )


@pytest.mark.django_db
def test_handler_creates_the_next_occurrence_once(user: Any) -> None:
    task = complete(recurring(user))
    event = completed_event(task)
    for _ in range(5):
        handle_task_completed(event)
    assert len(successors(task)) == 1


@pytest.mark.django_db
def test_handler_skips_a_deleted_task_and_rejects_a_bad_subject(user: Any) -> None:
    task = complete(recurring(user))
    event = completed_event(task)
    task_services.task_delete(task=task)
    handle_task_completed(event)  # nothing to do, no error
    assert Task.objects.count() == 0
    bad = CloudEvent(type="task.completed", source="/tasks", subject="nope", userid="1", data={})
    with pytest.raises(PermanentError):
        handle_task_completed(bad)


# --- concurrency ---------------------------------------------------------------------------------


def _in_thread(target: Any, results: list, *args: Any) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target(*args))
        except Exception as exc:  # noqa: BLE001 - reported through `results`
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_two_handlers_racing_create_one_successor(user: Any) -> None:
    task = complete(recurring(user))
    barrier = threading.Barrier(4)

    def generate() -> Any:
        barrier.wait()
        return series_generate_next(completed_task=Task.objects.get(pk=task.pk))

    results: list = []
    threads = [_in_thread(generate, results) for _ in range(4)]
    for thread in threads:
        thread.join(30)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(result is not None for result in results) == 1
    assert len(successors(task)) == 1
    assert Series.objects.get(pk=task.series_id).generated_count == 2


@pytest.mark.django_db(transaction=True)
def test_the_unique_successor_constraint_stops_a_creation_that_bypasses_the_series_lock(user: Any) -> None:
    """A successor inserted by someone else, committed while our insert waits on the unique
    index: ours fails in its savepoint and returns None; the surrounding transaction survives."""
    task = complete(recurring(user))
    inserted, release = threading.Event(), threading.Event()

    def rogue_insert() -> None:
        with transaction.atomic():
            task_services.task_create(owner=user, title="rogue", previous_occurrence=Task.objects.get(pk=task.pk))
            inserted.set()
            release.wait(10)

    def ours() -> Any:
        inserted.wait(10)
        with transaction.atomic():
            result = series_generate_next(completed_task=Task.objects.get(pk=task.pk))
            Task.objects.count()  # the outer transaction is still usable
        return result

    results: list = []
    rogue = _in_thread(rogue_insert, [])
    mine = _in_thread(ours, results)
    inserted.wait(10)
    threading.Timer(1.0, release.set).start()  # ours is blocked on the index by then
    rogue.join(30)
    mine.join(30)
    assert results == [None]
    assert [t.title for t in successors(task)] == ["rogue"]


# --- catch-up ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_catch_up_repairs_a_missing_successor_after_the_grace_period(user: Any) -> None:
    task = complete(recurring(user), at=timezone.now() - timedelta(minutes=30))
    fresh = complete(recurring(user, title="fresh"))  # completed just now: the handler's turn
    assert series_catch_up(grace=timedelta(minutes=10)) == 1
    assert len(successors(task)) == 1
    assert not successors(fresh)
    assert series_catch_up(grace=timedelta(minutes=10)) == 0  # nothing left to repair


@pytest.mark.django_db
def test_catch_up_ignores_ended_series_and_older_occurrences(user: Any) -> None:
    long_ago = timezone.now() - timedelta(hours=2)
    ended = complete(recurring(user, rule="FREQ=DAILY;COUNT=1"), at=long_ago)
    assert series_catch_up() == 0
    assert Series.objects.get(pk=ended.series_id).end_reason == "count"
    first = complete(recurring(user), at=long_ago)
    second = series_generate_next(completed_task=first)
    task_services.task_delete(task=second)  # the user deleted the next one: do not bring it back
    assert series_catch_up() == 0


@pytest.mark.django_db
def test_catch_up_celery_task_runs_the_repair(user: Any) -> None:
    task = complete(recurring(user), at=timezone.now() - timedelta(hours=1))
    assert recurrence_catch_up_task.apply(kwargs={"grace_seconds": 60}).get() == 1
    assert len(successors(task)) == 1
