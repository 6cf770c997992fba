"""The `reminder.due` batch handler: one notification per reminder, its send job enqueued on
commit, a poll batch in a fixed number of statements."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.correlation import get_correlation_id
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import ProcessedEvent
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.schemas import validate_event
from notifications_app.kafka_handlers import create_notifications
from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.factories import reminder_payload, task_payload

pytestmark = pytest.mark.django_db

GROUP = "notifications"


def _due_event(user: Any, *, userid: str | None = None, **reminder_overrides: Any) -> CloudEvent:
    task = task_payload()
    return validate_event(
        CloudEvent(
            type="reminder.due",
            source="/notifications",
            subject=task["id"],
            userid=userid or str(user.pk),
            data={"task": task, "reminder": reminder_payload(task, **reminder_overrides)},
        )
    )


def _copy(event: CloudEvent) -> CloudEvent:
    """The same reminder.due under an event id of its own (a redriven dead letter)."""
    return CloudEvent(type=event.type, source=event.source, subject=event.subject, userid=event.userid, data=event.data)


def _record(event: CloudEvent | None, offset: int = 0, *, correlation_id: str = "", error: str = "") -> ConsumedRecord:
    headers = {"correlation_id": correlation_id} if correlation_id else {}
    return ConsumedRecord("reminders", 0, offset, b"k", headers, b"{}", None, event, error or None, group=GROUP)


def test_reminder_due_creates_one_queued_notification_and_enqueues_it_on_commit(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    event = _due_event(user)

    with django_capture_on_commit_callbacks() as callbacks:
        assert create_notifications([_record(event)]) == []
    with django_capture_on_commit_callbacks() as repeated:
        create_notifications([_record(event)])  # redelivered
        create_notifications([_record(_copy(event))])  # a second event for the same reminder

    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.QUEUED
    assert str(notification.reminder_id) == event.data["reminder"]["id"]
    assert str(notification.task_id) == event.data["task"]["id"]
    assert notification.user == user
    assert notification.payload == event.data
    assert notification.message_id == f"<reminder-{notification.id}@localhost>"
    assert len(callbacks) == 1
    assert repeated == []
    assert ProcessedEvent.objects.filter(group=GROUP, event_id=event.id).exists()


def _published_jobs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str | None]]:
    """The send jobs published from now on, each as {notification id: its correlation id}."""
    jobs: list[dict[str, str | None]] = []

    def publish(args: list[str], kwargs: dict[str, Any] | None = None, **_: Any) -> None:
        correlation_ids = (kwargs or {}).get("correlation_ids") or [get_correlation_id()] * len(args)
        jobs.append(dict(zip(args, correlation_ids, strict=True)))

    monkeypatch.setattr("notifications_app.tasks.send_notification_task.apply_async", publish)
    return jobs


def test_a_batch_costs_the_same_statements_as_one_reminder(
    make_user: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.NOTIFICATION_SEND_BATCH_SIZE = 12
    jobs = _published_jobs(monkeypatch)
    users = [make_user(f"batch-{n}") for n in range(5)]
    one = [_record(_due_event(users[0]))]
    many = [_record(_due_event(users[n % 5]), offset) for n, offset in enumerate(range(1, 51))]

    with CaptureQueriesContext(connection) as single, django_capture_on_commit_callbacks():
        create_notifications(one)
    with (
        CaptureQueriesContext(connection) as batch,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        create_notifications(many)

    # Users, processed ids, existing notifications, the insert, what it wrote; and the savepoint
    # pair of the service's atomic block inside this test's transaction.
    assert len(batch.captured_queries) == len(single.captured_queries) <= 7
    assert Notification.objects.count() == 51
    # One callback publishes the 50 sends in even jobs of at most NOTIFICATION_SEND_BATCH_SIZE.
    assert len(callbacks) == 1
    assert [len(job) for job in jobs] == [10] * 5
    reminders = [record.event.data["reminder"]["id"] for record in many]
    created = {str(n) for n in Notification.objects.filter(reminder_id__in=reminders).values_list("id", flat=True)}
    published = [notification for job in jobs for notification in job]
    assert sorted(published) == sorted(created)


def test_each_send_carries_its_own_events_correlation_id(
    make_user: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _published_jobs(monkeypatch)
    user = make_user("carol")
    records = [_record(_due_event(user), n, correlation_id=f"request-{n}") for n in range(3)]
    without = _record(_due_event(user), 3)  # an event that names none gets one of its own

    with django_capture_on_commit_callbacks(execute=True):
        create_notifications([*records, without])

    by_reminder = {str(n.id): str(n.reminder_id) for n in Notification.objects.all()}
    wanted = {r.event.data["reminder"]["id"]: r.headers["correlation_id"] for r in records}
    got = {by_reminder[notification]: cid for job in jobs for notification, cid in job.items()}
    assert len(jobs) == 1
    assert {reminder: got[reminder] for reminder in wanted} == wanted
    assert got[without.event.data["reminder"]["id"]] not in (None, *wanted.values())


def test_user_without_email_gets_a_skipped_record_and_no_job(
    make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user("quiet")
    type(user).objects.filter(pk=user.pk).update(email="")

    with django_capture_on_commit_callbacks() as callbacks:
        create_notifications([_record(_due_event(user))])

    assert Notification.objects.get().status == NotificationStatus.SKIPPED
    assert callbacks == []


def test_records_that_can_never_be_notifications_are_handed_back_to_be_dead_lettered(user: Any) -> None:
    good = _record(_due_event(user), 0)
    unknown_user = _record(_due_event(user, userid="999999"), 1)
    huge_user = _record(_due_event(user, userid=str(2**64)), 2)
    # Decoding checks the payload model first; the handler checks again what it relies on.
    no_reminder = _record(CloudEvent(type="reminder.due", source="/x", subject="s", userid=str(user.pk), data={}), 3)
    undecodable = _record(None, 4, error="not JSON")
    other_type = _record(
        CloudEvent(type="reminder.sent", source="/x", subject="s", userid=str(user.pk), data=good.event.data), 5
    )

    refused = create_notifications([good, unknown_user, huge_user, no_reminder, undecodable, other_type])

    assert {r.record.offset: r.reason.split(":")[0].split(" ")[0] for r in refused} == {
        1: "no",
        2: "no",
        3: "the",
        4: "invalid",
    }
    assert Notification.objects.count() == 1
    # Refused events are not recorded as processed: a redriven copy is handled once it can be.
    assert not ProcessedEvent.objects.filter(event_id=unknown_user.event.id).exists()


def test_reminder_due_for_a_dead_notification_requeues_it_and_changes_nothing_otherwise(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    event = _due_event(user)
    create_notifications([_record(event)])
    notification = Notification.objects.get()
    Notification.objects.filter(id=notification.id).update(
        status=NotificationStatus.DEAD, attempts=1, last_error="permanent failure: 550"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        create_notifications([_record(_copy(event))])

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.QUEUED
    assert notification.attempts == 0
    assert len(callbacks) == 1
    Notification.objects.filter(id=notification.id).update(status=NotificationStatus.SENT)
    with django_capture_on_commit_callbacks() as callbacks:
        create_notifications([_record(_copy(event))])
    assert Notification.objects.get().status == NotificationStatus.SENT
    assert callbacks == []


def test_a_notification_written_meanwhile_by_another_member_is_not_enqueued_twice(
    user: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = _due_event(user)
    from notifications_app.services import batch_creation

    real_bulk_create = Notification.objects.bulk_create

    def racing_bulk_create(objs: list[Notification], **kwargs: Any) -> Any:
        # Another member inserts the same reminder's notification just before this batch does.
        other_id = uuid.uuid4()
        Notification.objects.create(
            id=other_id,
            user=user,
            task_id=objs[0].task_id,
            reminder_id=objs[0].reminder_id,
            channel=objs[0].channel,
            message_id=f"<other-{other_id}@localhost>",
            payload={},
        )
        return real_bulk_create(objs, **kwargs)

    monkeypatch.setattr(batch_creation.Notification.objects, "bulk_create", racing_bulk_create)

    with django_capture_on_commit_callbacks() as callbacks:
        create_notifications([_record(event)])

    assert Notification.objects.get().message_id.startswith("<other-")
    assert callbacks == []
