"""RabbitMQ and Redis, the machine's shared services, restarted while work flows.

Runs only with FAULTS_RESTART_SERVICES=1 (`make test-faults`, and `make test` in CI): other test
runs on the machine use the same servers. Each is stopped with its own command
(`rabbitmqctl stop`, `redis-cli shutdown nosave`), started again with
`scripts/ensure_services.sh <service>`, always in a `finally`, and is back within seconds.

Guarantees shown:
- RabbitMQ: reminders that fall due while it is down (asserted: due after the stop, before the
  restart, and not one e-mailed before the restart) are all e-mailed once it is back, once each,
  by the deployment's own machinery: Celery beat's dispatch schedule (its runs cannot reach the
  broker meanwhile, so the reminders fire once it is back), the notifications consumer and a
  worker that reconnects by itself. Nothing is run by the test.
- Redis (the channel layer): a WebSocket client sees every update exactly once, in order: live
  if its connection survived, else by reconnecting with the cursor it last saw (DESIGN.md section
  8). Updates are stored before they are broadcast, so a broadcast lost with Redis is replayed.
  What an open connection sees while Redis restarts is not guaranteed (README, Limits): the test
  waits 5 s for live delivery, then resumes with the cursor.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.auth.tokens import issue_token
from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.smtp import SMTPTestServer
from tasks_app.models import Reminder, ReminderStatus, Task
from tests.faults.support import (
    require_service_restarts,
    start_rabbitmq,
    start_redis,
    stop_rabbitmq,
    stop_redis,
    wait_for_log,
)
from tests.faults.test_worker_kills import WORKER_SETTINGS
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.stack import Stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REMINDERS = 20
UPDATES = 10
# Reminders fall due this long after RabbitMQ stopped; it stays down this long after they did.
DUE_AFTER_STOP_S = 2.0
DOWN_AFTER_DUE_S = 3.0
SWEEP_WAIT_S = 200.0
TITLE = re.compile(r"outage #(\d{3})")


def _reminder_numbers(messages: list[Any]) -> Counter[int]:
    """Which of the test's reminders each e-mail is for, by the number in its task's title."""
    found: Counter[int] = Counter()
    for message in messages:
        match = TITLE.search(str(message.message["Subject"])) or TITLE.search(message.part("text/plain"))
        if match:
            found[int(match.group(1))] += 1
    return found


def test_rabbitmq_down_while_reminders_fall_due_loses_no_reminder_email(
    private_broker, processes: ManagedProcesses, make_user: Any, figures
) -> None:
    require_service_restarts()
    smtp = SMTPTestServer().start()
    try:
        stack = Stack(processes, **smtp.env(), **WORKER_SETTINGS)
        stack.start_relay()
        stack.start_consumer("notifications")
        stack.start_worker()
        stack.wait_ready(timeout=90)
        beat = processes.start(
            "beat",
            [sys.executable, "-m", "celery", "-A", "todo_project", "beat", "-l", "INFO", "--pidfile="],
            env=stack.env,
        )
        wait_for_log(beat, "beat: Starting", timeout=90)
        owner = make_user("reminded")
        try:
            stop_rabbitmq()
            stopped_at = timezone.now()
            stopped = time.monotonic()
            remind_at = stopped_at + timedelta(seconds=DUE_AFTER_STOP_S)
            tasks = Task.objects.bulk_create(
                Task(owner=owner, title=f"outage #{n:03d}", due_at=remind_at + timedelta(hours=1))
                for n in range(REMINDERS)
            )
            Reminder.objects.bulk_create(Reminder(task=task, remind_at=remind_at) for task in tasks)
            time.sleep(max(0.0, (remind_at - timezone.now()).total_seconds()) + DOWN_AFTER_DUE_S)
            fired_while_down = Reminder.objects.filter(task__in=tasks, status=ReminderStatus.FIRED).count()
            queued_while_down = Notification.objects.filter(user=owner).count()
            emailed_before_restart = sum(_reminder_numbers(smtp.messages).values())
        finally:
            start_rabbitmq()
        restarted_at = timezone.now()
        restarted = time.monotonic()
        due_while_down = Reminder.objects.filter(
            task__in=tasks, remind_at__gt=stopped_at, remind_at__lt=restarted_at
        ).count()

        # A send job enqueued on a connection the restart broke is lost: beat's stale-work sweep
        # (every 60 s, 60 s grace) enqueues it again, so this can take two sweeps.
        wait_until(
            lambda: Notification.objects.filter(user=owner, status=NotificationStatus.SENT).count() == REMINDERS,
            timeout=SWEEP_WAIT_S,
            interval=0.5,
            message="every reminder e-mailed after the restart (beat, consumer and worker on their own)",
        )
        recovered = time.monotonic() - restarted
        time.sleep(1)  # room for a duplicate e-mail to show
        messages = smtp.messages
    finally:
        smtp.stop()
    received = _reminder_numbers(messages)
    wanted = set(range(REMINDERS))
    figures.record(
        reminders=REMINDERS,
        due_while_down=due_while_down,
        fired_while_down=fired_while_down,
        queued_while_down=queued_while_down,
        emailed_before_restart=emailed_before_restart,
        outage_s=restarted - stopped,
        emails=len(messages),
        received=len(set(received) & wanted),
        duplicates=sum(count - 1 for count in received.values()),
        lost=len(wanted - set(received)),
        time_to_recover_s=recovered,
    )
    assert due_while_down == REMINDERS, "the reminders fell due while RabbitMQ was down"
    assert emailed_before_restart == 0
    assert received == Counter(dict.fromkeys(wanted, 1))  # each reminder e-mailed once


def _patch(stack: Stack, token: str, task_id: str, title: str) -> int:
    try:
        return stack.api("PATCH", f"tasks/{task_id}/", token, {"title": title})[0]
    except urllib.error.HTTPError as exc:
        return exc.code


def _frames(ws: Any, seen: dict[int, str], repeats: list[int], want: int, timeout: float) -> bool:
    """Read update frames into `seen` (cursor → title) until `want` are there; a cursor seen
    again, or one not above the last, goes to `repeats`. False if the connection closed or went
    quiet first."""
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < want and time.monotonic() < deadline:
            try:
                frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                return False
            if frame["type"] == "task.updated":
                cursor = int(frame["cursor"])
                if seen and cursor <= max(seen):
                    repeats.append(cursor)
                else:
                    seen[cursor] = frame["task"]["title"]
    except ConnectionClosed:
        return False
    return len(seen) >= want


def test_redis_restart_keeps_websocket_clients_complete_and_in_order(
    private_broker, processes: ManagedProcesses, user: Any, figures
) -> None:
    require_service_restarts()
    stack = Stack(processes)
    stack.start_web()
    stack.start_relay()
    stack.start_consumer("sync")
    stack.wait_ready(timeout=60)
    token = issue_token(subject=user.username, email=user.email)
    _, task, _ = stack.api("POST", "tasks/", token, {"title": "version 0"})
    url = f"ws://127.0.0.1:{stack.web_port}/ws/sync/?token={token}"

    seen: dict[int, str] = {}
    repeats: list[int] = []
    statuses = []
    with connect(url, origin=stack.base, open_timeout=10) as ws:
        while (ready := json.loads(ws.recv(timeout=20)))["type"] != "ready":
            pass
        try:
            stop_redis()
            stopped = time.monotonic()
            for version in range(1, UPDATES // 2 + 1):
                statuses.append(_patch(stack, token, task["id"], f"version {version}"))
        finally:
            start_redis()
        restarted = time.monotonic()
        for version in range(UPDATES // 2 + 1, UPDATES + 1):
            statuses.append(_patch(stack, token, task["id"], f"version {version}"))
        live = _frames(ws, seen, repeats, UPDATES, timeout=5)
    reconnected = False
    if not live:
        reconnected = True
        cursor = max(seen) if seen else int(ready["cursor"])
        with connect(f"{url}&cursor={cursor}", origin=stack.base, open_timeout=10) as ws:
            assert _frames(ws, seen, repeats, UPDATES, timeout=30), f"only {sorted(seen.values())} after resuming"
    recovered = time.monotonic() - restarted
    wanted = [f"version {v}" for v in range(1, UPDATES + 1)]  # what the test wrote, in order
    figures.record(
        updates=UPDATES,
        writes_refused=sum(1 for status in statuses if status != 200),
        outage_s=restarted - stopped,
        received=len(seen),
        duplicates_or_out_of_order=len(repeats),
        lost=len(set(wanted) - set(seen.values())),
        recovered_live=live,
        recovered_by_resume=reconnected,
        time_to_recover_s=recovered,
    )
    assert set(statuses) == {200}
    assert repeats == []
    assert list(seen.values()) == wanted
