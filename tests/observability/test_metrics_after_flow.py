"""After a scripted flow through the real processes (create a task with a reminder, the reminder
fires and is e-mailed, the task is completed and synced to an open WebSocket), every role's
metrics endpoint shows the named metrics with the values that flow produced."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from websockets.sync.client import connect

from core.auth.tokens import issue_token
from notifications_app.models import Notification
from notifications_app.tests.smtp import SMTPTestServer
from tasks_app.tasks import dispatch_reminders_task
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.scrape import samples, scrape, total
from tests.observability.stack import Stack

SEND_JOB = "notifications_app.tasks.send_notification_task"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kafka_topics")
def test_every_role_exposes_its_metrics_with_the_values_of_a_flow(processes: ManagedProcesses, user: Any) -> None:
    smtp = SMTPTestServer().start()
    try:
        _run_flow_and_check(processes, user, smtp)
    finally:
        smtp.stop()


def _run_flow_and_check(processes: ManagedProcesses, user: Any, smtp: SMTPTestServer) -> None:
    stack = Stack(processes, **smtp.env())
    stack.start_web()
    stack.start_relay(KAFKA_LAG_EXPORT_INTERVAL="1")  # lag gauges appear after one interval
    stack.start_worker()
    stack.start_consumer("notifications")
    stack.start_consumer("sync")
    stack.wait_ready()
    token = issue_token(subject=user.username, email=user.email)
    socket = connect(f"ws://127.0.0.1:{stack.web_port}/ws/sync/?token={token}", origin=stack.base, open_timeout=10)
    try:
        remind_at = timezone.now() + timedelta(seconds=2)
        status, task, _ = stack.api(
            "POST",
            "tasks/",
            token,
            {
                "title": "call mum",
                "due_at": (remind_at + timedelta(hours=1)).isoformat(),
                "reminders": [{"remind_at": remind_at.isoformat()}],
            },
        )
        assert status == 201
        # Celery beat's part: dispatch passes until the reminder has fired.
        time.sleep(max(0.0, (remind_at - timezone.now()).total_seconds()))
        wait_until(
            lambda: dispatch_reminders_task.apply_async() and Notification.objects.filter(status="sent").exists(),
            timeout=30,
            interval=1.0,
            message="the reminder is fired and e-mailed",
        )
        status, _, _ = stack.api("POST", f"tasks/{task['id']}/complete/", token, {})
        assert status == 200

        web = wait_until(
            lambda: (m := scrape(stack.metrics_url("web")))
            and total(m, "sync_websocket_frames_sent_total") >= 2  # created and completed reached the socket
            and m,
            timeout=20,
            message="task updates sent to the WebSocket",
        )
    finally:
        socket.close()

    # web: requests and their latency by route, events recorded by the services, the socket.
    assert total(web, "http_requests_total", method="POST", route="api/v1/tasks/", status="201") == 1
    assert (
        total(web, "http_request_duration_seconds_count", method="POST", route="api/v1/tasks/<uuid:task_id>/complete/")
        == 1
    )
    assert total(web, "http_request_duration_seconds_sum", method="POST") > 0
    assert total(web, "outbox_events_recorded_total", type="task.created") == 2  # task-events and task-updates
    assert total(web, "outbox_events_recorded_total", type="task.completed") == 2
    assert samples(web, "sync_websocket_connections_open") == [1]

    # relay: what it published, the backlog it drained, and every group's lag.
    relay = wait_until(
        lambda: (m := scrape(stack.metrics_url("relay")))
        and total(m, "outbox_events_published_total") >= 7  # 2 created, 1 scheduled, 1 due, 1 sent, 2 completed
        and samples(m, "kafka_consumer_lag_messages", group="notifications")
        and m,
        timeout=20,
        message="relay published the flow's events",
    )
    assert total(relay, "outbox_events_published_total", topic="reminders") >= 3
    assert samples(relay, "outbox_backlog") == [0]
    assert samples(relay, "outbox_oldest_age_seconds") == [0]
    assert samples(relay, "kafka_consumer_lag_messages", group="notifications")

    # consumers: records handled per group.
    notifications = scrape(stack.metrics_url("consumer-notifications"))
    assert total(notifications, "kafka_records_handled_total", group="notifications", outcome="processed") >= 1
    sync = wait_until(
        lambda: (m := scrape(stack.metrics_url("consumer-sync")))
        and total(m, "kafka_records_handled_total", group="sync", topic="task-updates", outcome="processed") >= 2
        and m,
        timeout=10,
    )
    assert total(sync, "sync_broadcasts_total") >= 2

    # worker: Celery jobs, reminder dispatch and e-mail delivery.
    worker = scrape(stack.metrics_url("worker"))
    assert total(worker, "celery_tasks_started_total", task=SEND_JOB) >= 1
    assert total(worker, "celery_tasks_succeeded_total", task=SEND_JOB) >= 1
    assert total(worker, "celery_task_duration_seconds_count", task=SEND_JOB) >= 1
    assert total(worker, "celery_task_duration_seconds_sum", task=SEND_JOB) > 0
    assert total(worker, "celery_tasks_succeeded_total", task="tasks_app.tasks.dispatch_reminders_task") >= 1
    assert total(worker, "reminders_fired_total") == 1
    assert total(worker, "reminder_fire_lag_seconds_count") == 1
    assert total(worker, "notification_send_attempts_total", outcome="sent") == 1
    assert total(worker, "outbox_events_recorded_total", type="reminder.due") == 1
