"""RabbitMQ and Redis, the machine's shared services, restarted while work flows.

Runs only with FAULTS_RESTART_SERVICES=1 (`make test-faults`, and `make test` in CI): other test
runs on the machine use the same servers. Each is stopped with its own command
(`rabbitmqctl stop`, `redis-cli shutdown nosave`), started again as scripts/ensure_services.sh
does, always in a `finally`, and is back within seconds.

Guarantees shown:
- RabbitMQ: reminders that fire during the outage are all e-mailed once it is back. The
  notification record is committed before its send job is enqueued; a job that could not be
  enqueued is re-enqueued by the stale-work sweep (beat, every 60 s, 60 s grace) — run here by
  the test with a 5 s grace instead of waiting two minutes. Workers reconnect by themselves.
- Redis (the channel layer): a WebSocket client sees every update exactly once, in order: live
  if its connection survived, else by reconnecting with the cursor it last saw (DESIGN.md section
  8). Updates are stored before they are broadcast, so a broadcast lost with Redis is replayed.
  Measured: a connection open across the restart stays open but gets no more live updates
  (channels-redis' pub/sub receive task dies with the Redis connection and is not restarted),
  so the guarantee holds only for clients that reconnect with their cursor; the test waits 5 s
  for live delivery, then resumes.
"""

from __future__ import annotations

import json
import time
import urllib.error
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.auth.tokens import issue_token
from notifications_app.models import Notification, NotificationStatus
from notifications_app.services.notifications import notifications_requeue_stale
from notifications_app.tests.smtp import SMTPTestServer
from tasks_app.models import Reminder, Task
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


def test_rabbitmq_restart_loses_no_reminder_email(
    private_broker, processes: ManagedProcesses, make_user: Any, figures
) -> None:
    require_service_restarts()
    smtp = SMTPTestServer().start()
    try:
        stack = Stack(processes, **smtp.env(), **WORKER_SETTINGS)
        stack.start_relay()
        stack.start_consumer("notifications")
        stack.start_worker()
        stack.wait_ready(timeout=60)
        dispatcher = processes.manage("dispatcher", "dispatch_reminders", "--loop", "--interval", "0.2", env=stack.env)
        wait_for_log(dispatcher, "dispatching due reminders")

        owner = make_user("reminded")
        remind_at = timezone.now() + timedelta(seconds=2)
        tasks = Task.objects.bulk_create(
            Task(owner=owner, title=f"during the outage {n}", due_at=remind_at + timedelta(hours=1))
            for n in range(REMINDERS)
        )
        Reminder.objects.bulk_create(Reminder(task=task, remind_at=remind_at) for task in tasks)
        try:
            stop_rabbitmq()
            stopped = time.monotonic()
            wait_until(
                lambda: Notification.objects.count() == REMINDERS, timeout=60, message="reminders fired meanwhile"
            )
            queued_during_outage = Notification.objects.filter(status=NotificationStatus.QUEUED).count()
        finally:
            start_rabbitmq()
        restarted = time.monotonic()

        def all_sent() -> bool:
            notifications_requeue_stale(grace_seconds=5)  # the beat sweep's job, test-sized grace
            return Notification.objects.filter(status=NotificationStatus.SENT).count() == REMINDERS

        wait_until(all_sent, timeout=120, interval=1.0, message="every reminder e-mailed after the restart")
        recovered = time.monotonic() - restarted
        messages = smtp.messages
    finally:
        smtp.stop()
    distinct = {message.message_id for message in messages}
    figures.record(
        reminders=REMINDERS,
        queued_while_down=queued_during_outage,
        outage_s=restarted - stopped,
        emails=len(messages),
        distinct_emails=len(distinct),
        lost=REMINDERS - len(distinct),
        time_to_recover_s=recovered,
    )
    assert len(distinct) == REMINDERS


def _patch(stack: Stack, token: str, task_id: str, title: str) -> int:
    try:
        return stack.api("PATCH", f"tasks/{task_id}/", token, {"title": title})[0]
    except urllib.error.HTTPError as exc:
        return exc.code


def _frames(ws: Any, seen: dict[int, str], want: int, timeout: float) -> bool:
    """Read update frames into `seen` (cursor → title) until `want` are there; False if the
    connection closed or went quiet first."""
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < want and time.monotonic() < deadline:
            try:
                frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                return False
            if frame["type"] == "task.updated":
                cursor = int(frame["cursor"])
                assert cursor not in seen, f"update {cursor} delivered twice"
                assert not seen or cursor > max(seen), "updates out of order"
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
        live = _frames(ws, seen, UPDATES, timeout=5)
    reconnected = False
    if not live:
        reconnected = True
        cursor = max(seen) if seen else int(ready["cursor"])
        with connect(f"{url}&cursor={cursor}", origin=stack.base, open_timeout=10) as ws:
            assert _frames(ws, seen, UPDATES, timeout=30), f"only {sorted(seen.values())} after resuming"
    recovered = time.monotonic() - restarted
    figures.record(
        updates=UPDATES,
        writes_refused=sum(1 for status in statuses if status != 200),
        outage_s=restarted - stopped,
        received=len(seen),
        duplicates=0,
        lost=UPDATES - len(seen),
        recovered_live=live,
        recovered_by_resume=reconnected,
        time_to_recover_s=recovered,
    )
    assert set(statuses) == {200}
    assert list(seen.values()) == [f"version {v}" for v in range(1, UPDATES + 1)]
