"""task_create writes its rows and describes them from what it holds: no re-read of the task,
its tags or its reminders (each costs a round trip on the busiest write path)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kafka_bridge.models import OutboxEvent
from tasks_app.events import REMINDER_TOPICS, TASK_TOPICS
from tasks_app.models import Tag, Task
from tasks_app.representations import task_representation
from tasks_app.selectors import task_get
from tasks_app.services import task_create

pytestmark = pytest.mark.django_db(transaction=True)

REMINDER_ROWS = [("reminder.scheduled", topic) for topic in REMINDER_TOPICS]


def work(queries: CaptureQueriesContext) -> list[str]:
    """The statements that read or write (not BEGIN, COMMIT or savepoints)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [query["sql"] for query in queries if not query["sql"].startswith(control)]


def rich_create(user, **extra):
    due = (timezone.now() + timedelta(days=3)).replace(microsecond=123456)
    return task_create(
        owner=user,
        title="Quarterly report",
        description="Figures first.",
        priority="high",
        tags=["Work", "reports"],
        due_at=due,
        timezone="Europe/Berlin",
        recurrence_rule="weekdays",
        reminders=[{"offset_minutes": 30}, {"remind_at": due - timedelta(days=1)}],
        **extra,
    )


def test_create_shows_exactly_what_a_fresh_read_shows(user, sent):
    task = rich_create(user)
    fresh = task_get(user=user, task_id=str(task.id))
    with CaptureQueriesContext(connection) as queries:
        shown = task_representation(task)
    assert len(queries) == 0
    assert shown == task_representation(fresh)
    assert sent.of("task_created")[0]["task"] == task_representation(fresh)
    scheduled = {r["reminder"]["id"] for r in sent.of("reminder_scheduled")}
    assert scheduled == {r["id"] for r in shown["reminders"]}


def test_create_neither_rereads_the_task_nor_its_tags_and_reminders(user):
    task_create(owner=user, title="first", tags=["work", "reports"])  # the tags exist from now on
    with CaptureQueriesContext(connection) as queries:
        task = rich_create(user)
    statements = work(queries)
    assert not any('FROM "tasks_app_task"' in sql or 'FROM "tasks_app_reminder"' in sql for sql in statements)
    reads = [sql for sql in statements if sql.lstrip().startswith(("SELECT", "WITH"))]
    assert len(reads) == 1, reads  # the tags, read and linked in one statement
    # The series, the task, the tags, the reminders, and one outbox INSERT for all the events:
    # the task's (one row per topic) and each reminder's (the outbox's trigger NOTIFYs the
    # relay: no statement of its own).
    assert len(statements) == 5, statements
    outbox = [sql for sql in statements if sql.startswith('INSERT INTO "kafka_bridge_outboxevent"')]
    assert len(outbox) == 1
    written = OutboxEvent.objects.filter(key=str(task.id)).values_list("event_type", "topic")
    assert sorted(written) == sorted([*(("task.created", topic) for topic in TASK_TOPICS), *2 * REMINDER_ROWS])


def test_create_without_tags_or_reminders_writes_the_task_and_its_events_only(user):
    with CaptureQueriesContext(connection) as queries:
        task_create(owner=user, title="bare")
    statements = work(queries)
    # The task and its event (one row per topic).
    assert len(statements) == 2, statements


def test_create_adds_only_the_missing_tags_and_links_all_of_them(user, other_user):
    Tag.objects.create(owner=user, name="work")
    Tag.objects.create(owner=other_user, name="home")  # another user's tag is not reused
    task = task_create(owner=user, title="t", tags=["work", "home", "urgent"])
    assert sorted(task.tags.values_list("name", flat=True)) == ["home", "urgent", "work"]
    assert Tag.objects.filter(owner=user).count() == 3
    assert Task.objects.get(pk=task.pk).tags.filter(owner=user).count() == 3
