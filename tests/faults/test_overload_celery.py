"""Recovery after overload: the Celery worker takes nothing for a minute (stopped, the limit case
of an overloaded one) while beat keeps sending its periodic runs and reminders come due. When a
worker is back, the stale runs are discarded rather than run one by one, the queue drains, and
the reminders are e-mailed within seconds.

The whole pipeline is real: beat (DatabaseScheduler, dispatch every 0.5 s), the Celery worker on
this run's queues, the relay loop, the notifications consumer and an SMTP server."""

from __future__ import annotations

import re
import signal
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from notifications_app.tests.factories import make_task_with_reminders
from notifications_app.tests.smtp import SMTPTestServer
from tests.faults.support import log_text, wait_for_log
from tests.fixtures import subprocess_env, wait_until
from todo_project.celery import app, worker_queues

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OVERLOAD_SECONDS = 60.0
REMINDERS = 20
# After the worker is back: the queue is empty and every reminder's e-mail sent within these.
DRAIN_TARGET_SECONDS = 10.0
EMAIL_TARGET_SECONDS = 15.0
DISPATCH = "tasks_app.tasks.dispatch_reminders_task"


def messages_waiting(queue: str) -> int:
    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).message_count


def count_in_log(process: Any, pattern: str, since: int = 0) -> int:
    return len(re.findall(pattern, log_text(process)[since:]))


def test_after_a_minute_of_overload_stale_runs_expire_the_queue_drains_and_reminders_go_out(
    processes, make_user, figures, kafka_topics
):
    smtp = SMTPTestServer().start()
    try:
        env = subprocess_env(**smtp.env(), NOTIFICATION_RETRY_BASE_SECONDS="0.5", NOTIFICATION_RETRY_MAX_SECONDS="2")
        consumer = processes.manage("consumer-notifications", "run_consumer", "notifications", env=env)
        processes.manage("relay", "relay_outbox", "--loop", env=env)
        worker = processes.celery_worker(env=env)
        beat = processes.start(
            "beat", [sys.executable, "-m", "celery", "-A", "todo_project", "beat", "-l", "INFO", "--pidfile="], env=env
        )
        for process, text in ((worker, " ready."), (beat, "beat: Starting"), (consumer, "partitions assigned")):
            wait_for_log(process, text, timeout=90)
        owner = make_user("overloaded")
        make_task_with_reminders(owner, timezone.now(), title="warm-up")  # every hop once
        wait_until(lambda: len(smtp.messages) >= 1, timeout=60, message="the warm-up e-mail")
        smtp.reset()

        # The overload: beat goes on sending, nobody takes its runs; reminders come due meanwhile.
        processes.kill(worker, signal.SIGTERM)
        overload_ends = time.monotonic() + OVERLOAD_SECONDS
        due = timezone.now() + timedelta(seconds=OVERLOAD_SECONDS / 2)
        for n in range(REMINDERS):
            make_task_with_reminders(owner, due, title=f"overloaded {n}")
        time.sleep(max(0.0, overload_ends - time.monotonic()))
        default_queue, email_queue = worker_queues()
        backlog = messages_waiting(default_queue)

        log_before = len(log_text(worker))  # the next worker appends to the same log
        back = time.monotonic()
        worker = processes.celery_worker(env=env)
        drained = wait_until(
            lambda: messages_waiting(default_queue) == 0 and time.monotonic(),
            timeout=60,
            interval=0.1,
            message=f"{default_queue} to drain",
        )
        sent = wait_until(
            lambda: len(smtp.messages) >= REMINDERS and time.monotonic(),
            timeout=60,
            interval=0.1,
            message=f"{REMINDERS} e-mails",
        )
        # Dispatch runs the new worker ran (the stale ones it discarded are not logged at INFO).
        ran = count_in_log(worker, rf"{re.escape(DISPATCH)}\[[^\]]+\] succeeded", since=log_before)
        running = time.monotonic() - back
        figures.record(
            overload_seconds=OVERLOAD_SECONDS,
            backlog_messages=backlog,
            drain_seconds=drained - back,
            emails=len(smtp.messages),
            emails_seconds=sent - back,
            dispatch_runs_run_after=ran,
            email_queue_left=messages_waiting(email_queue),
        )

        assert backlog >= OVERLOAD_SECONDS, "beat's runs did not pile up: nothing was overloaded"
        # The stale runs expired: discarded on arrival, not run one after another (beat's new
        # runs, two a second, still run).
        assert ran <= 2 * running + 5, f"{ran} dispatch runs in {running:.0f} s, with {backlog} messages waiting"
        assert drained - back <= DRAIN_TARGET_SECONDS
        assert sent - back <= EMAIL_TARGET_SECONDS
        assert len(smtp.messages) == REMINDERS
    finally:
        smtp.stop()
