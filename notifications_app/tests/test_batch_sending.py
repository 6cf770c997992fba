"""A send job with several notifications: claimed in the statements of one, each e-mailed and
recorded `sent` at once as one job would, each `reminder.sent` under its own correlation id, a
failed send recorded alone, and nothing more sent once the job has used half the send lease."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kafka_bridge.models import OutboxEvent
from notifications_app import mail_connections
from notifications_app.models import Notification, NotificationStatus
from notifications_app.services.sending import notifications_deliver
from notifications_app.tasks import enqueue_send_notifications, send_notification_task
from notifications_app.tests.factories import make_notification
from notifications_app.tests.smtp import SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_retries")]


def _ids(notifications: list[Notification]) -> list[str]:
    return [str(notification.id) for notification in notifications]


def test_a_batch_is_claimed_in_the_statements_of_one_and_each_e_mail_recorded_at_once(
    user: Any, smtp_server: SMTPTestServer
) -> None:
    one = [make_notification(user)]
    ten = [make_notification(user) for _ in range(10)]
    mail_connections.discard()

    with CaptureQueriesContext(connection) as single:
        assert {r.status for r in notifications_deliver(notification_ids=_ids(one)).values()} == {"sent"}
    with CaptureQueriesContext(connection) as batch:
        results = notifications_deliver(notification_ids=_ids(ten))

    def counts(queries: CaptureQueriesContext) -> tuple[int, int]:
        sql = [query["sql"] for query in queries.captured_queries]
        updates = sum(1 for statement in sql if statement.startswith('UPDATE "notifications_app_notification"'))
        return sum(1 for statement in sql if "FOR UPDATE" in statement), updates

    # The claim: one locking SELECT and one UPDATE for the batch; then one of each per e-mail sent.
    assert counts(single) == (2, 2)
    assert counts(batch) == (11, 11)
    assert [result.status for result in results.values()] == ["sent"] * 10
    assert sorted(message.message_id for message in smtp_server.messages) == sorted(
        Notification.objects.values_list("message_id", flat=True)
    )
    for notification in Notification.objects.all():
        assert notification.status == NotificationStatus.SENT
        assert notification.attempts == 1
        assert notification.sent_at is not None
        assert notification.provider_message_id == notification.message_id
        assert notification.lease_expires_at is None
    sent_events = OutboxEvent.objects.filter(event_type="reminder.sent")
    assert sorted(event.value["data"]["notification"]["id"] for event in sent_events) == sorted(_ids(one + ten))


def test_each_reminder_sent_carries_its_notifications_correlation_id(user: Any, smtp_server: SMTPTestServer) -> None:
    notifications = [make_notification(user) for _ in range(3)]
    correlation_ids = [f"request-{n}" for n in range(3)]

    notifications_deliver(notification_ids=_ids(notifications), correlation_ids=correlation_ids)

    by_notification = {
        event.value["data"]["notification"]["id"]: event.headers.get("correlation_id")
        for event in OutboxEvent.objects.filter(event_type="reminder.sent")
    }
    assert by_notification == dict(zip(_ids(notifications), correlation_ids, strict=True))


def test_a_refused_send_fails_alone_and_a_repeated_job_sends_nothing_twice(
    user: Any, smtp_server: SMTPTestServer
) -> None:
    notifications = [make_notification(user) for _ in range(4)]
    smtp_server.script("RCPT", "550 5.1.1 mailbox disabled")  # the first one is refused

    first = notifications_deliver(notification_ids=_ids(notifications))
    again = notifications_deliver(notification_ids=_ids(notifications))

    assert [result.status for result in first.values()] == ["dead", "sent", "sent", "sent"]
    assert [result.status for result in again.values()] == ["dead", "sent", "sent", "sent"]
    assert len(smtp_server.messages) == 3
    assert OutboxEvent.objects.filter(event_type="reminder.sent").count() == 3
    assert OutboxEvent.objects.filter(event_type="reminder.failed").count() == 1


def test_a_job_past_half_its_lease_sends_no_more_and_gives_the_rest_back_uncounted(
    user: Any, smtp_server: SMTPTestServer, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.NOTIFICATION_SEND_LEASE_SECONDS = 0.0  # half of it is over before the first send
    notifications = [make_notification(user) for _ in range(2)]

    with django_capture_on_commit_callbacks() as enqueues:
        results = notifications_deliver(notification_ids=_ids(notifications))

    assert len(enqueues) == 2  # each sent again in a job of its own

    assert [result.status for result in results.values()] == ["released", "released"]
    assert smtp_server.messages == []
    for notification in Notification.objects.all():
        assert notification.status == NotificationStatus.FAILED
        assert "half the send lease" in notification.last_error
        assert notification.attempts == 0  # nothing was tried: no attempt counted
        assert notification.lease_expires_at is None
        assert notification.next_attempt_at is not None


def test_the_consumers_sends_are_published_in_even_jobs_of_at_most_the_batch_size(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.NOTIFICATION_SEND_BATCH_SIZE = 10
    published: list[tuple[list[str], list[str | None]]] = []
    monkeypatch.setattr(
        send_notification_task,
        "apply_async",
        lambda args, kwargs=None, **_: published.append((args, kwargs["correlation_ids"])),
    )
    pairs = [(f"n{i}", f"c{i}") for i in range(25)]

    enqueue_send_notifications(pairs)

    assert [len(args) for args, _ in published] == [8, 8, 9]
    assert [pair for args, cids in published for pair in zip(args, cids, strict=True)] == pairs


def test_a_job_that_finds_a_send_leased_comes_back_for_that_one_after_the_lease(
    user: Any, smtp_server: SMTPTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    leased, free = make_notification(user), make_notification(user)
    notifications_deliver(notification_ids=[])  # nothing to do is nothing done
    Notification.objects.filter(id=leased.id).update(
        status=NotificationStatus.SENDING, lease_expires_at=timezone.now() + timedelta(minutes=2)
    )
    again: list[tuple[str, float]] = []
    monkeypatch.setattr(
        "notifications_app.tasks.enqueue_send_notification",
        lambda notification_id, *, countdown: again.append((notification_id, countdown)),
    )

    assert send_notification_task.run(str(leased.id), str(free.id)) == ["leased", "sent"]

    [(notification_id, countdown)] = again
    assert notification_id == str(leased.id)
    assert countdown > 60
    assert [message.message_id for message in smtp_server.messages] == [free.message_id]
