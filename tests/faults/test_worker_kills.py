"""Celery workers SIGKILLed while they send reminder e-mails.

Scaled for CI: ~100 reminders due at once, three workers (4 threads each), one of them killed in
each of 3 rounds while sends are in flight (the SMTP server holds every DATA reply until the kill,
so the killed worker dies mid-send with the message already at the server). Jobs are acknowledged
late and rejected back to the queue when their worker is lost; the claim of `services.sending`
(lease) makes the repeat safe. The guarantee is at-least-once e-mail with a stable Message-ID:
no reminder is lost; a send killed after the server took the message arrives twice, with the
same Message-ID, so mail clients show it once.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.smtp import SMTPTestServer
from tasks_app.models import Reminder, ReminderStatus, Task
from tests.faults.support import wait_for_log
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REMINDERS = 100
WORKERS = 3
ROUNDS = 3
WORKER_SETTINGS = {  # as notifications_app/tests/test_end_to_end.py: short leases and retries
    "NOTIFICATION_MAX_ATTEMPTS": "8",
    "NOTIFICATION_RETRY_BASE_SECONDS": "0.5",
    "NOTIFICATION_RETRY_MAX_SECONDS": "2",
    "NOTIFICATION_SEND_LEASE_SECONDS": "3",
    "EMAIL_TIMEOUT": "5",
}


def test_workers_killed_mid_send_lose_no_reminder(
    private_broker, processes: ManagedProcesses, make_user: Any, figures
) -> None:
    smtp = SMTPTestServer().start()
    try:
        env = subprocess_env(**smtp.env(), **WORKER_SETTINGS)
        consumer = processes.manage("consumer", "run_consumer", "notifications", env=env)
        processes.manage("relay", "relay_outbox", "--loop", env=env)
        dispatcher = processes.manage("dispatcher", "dispatch_reminders", "--loop", "--interval", "0.2", env=env)
        workers = [processes.celery_worker(env=env) for _ in range(WORKERS)]
        for worker in workers:
            wait_for_log(worker, " ready.")
        wait_for_log(dispatcher, "dispatching due reminders")
        wait_for_log(consumer, "partitions assigned")

        owner = make_user("reminded")
        remind_at = timezone.now() + timedelta(seconds=1)
        tasks = Task.objects.bulk_create(
            Task(owner=owner, title=f"reminder {n}", due_at=remind_at + timedelta(hours=1)) for n in range(REMINDERS)
        )
        Reminder.objects.bulk_create(Reminder(task=task, remind_at=remind_at) for task in tasks)

        killed_mid_send = 0
        for round_number in range(ROUNDS):
            smtp.hold_data()
            arrivals = len(smtp.handler.data_arrivals)
            wait_until(lambda arrivals=arrivals: len(smtp.handler.data_arrivals) >= arrivals + 3, timeout=60)
            victim = workers[round_number % WORKERS]
            killed_mid_send += len(smtp.handler.data_arrivals) - arrivals  # an upper bound: all workers hold
            processes.kill(victim, signal.SIGKILL)
            smtp.release_data()
            workers[round_number % WORKERS] = processes.celery_worker(env=env)
            sent = len(smtp.messages)
            wait_until(lambda sent=sent: len(smtp.messages) >= min(REMINDERS, sent + 10), timeout=60)
        killed_at = time.monotonic()

        wait_until(
            lambda: Notification.objects.filter(status=NotificationStatus.SENT).count() == REMINDERS,
            timeout=120,
            interval=0.5,
            message="every reminder sent",
        )
        time_to_recover = time.monotonic() - killed_at
        messages = smtp.messages
    finally:
        smtp.stop()

    by_id = Counter(message.message_id for message in messages)
    notifications = Notification.objects.filter(user=owner)
    figures.record(
        reminders=REMINDERS,
        workers_killed=ROUNDS,
        sends_in_flight_at_kills=killed_mid_send,
        emails_received=len(messages),
        distinct_emails=len(by_id),
        duplicates_same_message_id=len(messages) - len(by_id),
        lost=REMINDERS - len(by_id),
        max_attempts=max(n.attempts for n in notifications),
        time_to_recover_s=time_to_recover,
    )
    assert not Reminder.objects.exclude(status=ReminderStatus.FIRED).exists()
    assert notifications.count() == REMINDERS
    assert {str(n.message_id) for n in notifications} == set(by_id)  # one e-mail per reminder, ids stable
