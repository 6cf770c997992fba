"""Celery workers SIGKILLed in the middle of an SMTP send of a reminder e-mail.

~100 reminders due at once, three workers (4 threads each). In each of 3 rounds the SMTP server
holds every DATA reply; the test finds, through the operating system's socket table, which
worker owns connections whose DATA is held, and SIGKILLs that one (asserted: it held at least
one send). Jobs are acknowledged late and rejected when their worker is lost; each killed send
runs again once its lease expires (asserted: every killed send's notification has a second
attempt, and its e-mail arrives with the same Message-ID). No reminder is lost. The server here
drops a DATA whose client died before the reply, so a killed send arrives once; a server that
kept it would show it twice, with the same Message-ID (README, Limits).
"""

from __future__ import annotations

import email
import re
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.smtp import ScriptedHandler, SMTPTestServer
from tasks_app.models import Reminder, ReminderStatus, Task
from tests.faults.support import wait_for_log
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REMINDERS = 100
TITLE = re.compile(r"reminder #(\d{3})")
WORKERS = 3
ROUNDS = 3
WORKER_SETTINGS = {  # as notifications_app/tests/test_end_to_end.py: short leases and retries
    "NOTIFICATION_MAX_ATTEMPTS": "8",
    "NOTIFICATION_RETRY_BASE_SECONDS": "0.5",
    "NOTIFICATION_RETRY_MAX_SECONDS": "2",
    "NOTIFICATION_SEND_LEASE_SECONDS": "3",
    "EMAIL_TIMEOUT": "5",
}


class PeerRecordingHandler(ScriptedHandler):
    """Also records (client port, Message-ID) of every DATA that arrives: which worker sends it,
    and which reminder it is."""

    def __init__(self) -> None:
        super().__init__()
        self.data_sends: list[tuple[int, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = str(email.message_from_bytes(envelope.original_content or envelope.content)["Message-ID"])
        self.data_sends.append((int(session.peer[1]), message_id))
        return await super().handle_DATA(server, session, envelope)


class HoldingSMTPServer(SMTPTestServer):
    def __init__(self) -> None:
        super().__init__()
        self.handler = PeerRecordingHandler()
        self._controller.handler = self.handler


def _socket_inodes_by_local_port(server_port: int) -> dict[int, str]:
    """{client port: socket inode} of the established TCP connections to 127.0.0.1:server_port."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and int(remote.split(":")[1], 16) == server_port:
            found[int(local.split(":")[1], 16)] = inode
    return found


def _ports_owned_by(pid: int, ports: set[int], server_port: int) -> set[int]:
    """Which of the client ports `ports` (connections to server_port) process `pid` owns."""
    by_inode = {inode: port for port, inode in _socket_inodes_by_local_port(server_port).items() if port in ports}
    owned = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in by_inode:
            owned.add(by_inode[target[8:-1]])
    return owned


def test_workers_killed_mid_send_lose_no_reminder_and_repeat_with_the_same_message_id(
    private_broker, processes: ManagedProcesses, make_user: Any, figures
) -> None:
    smtp = HoldingSMTPServer().start()
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
            Task(owner=owner, title=f"reminder #{n:03d}", due_at=remind_at + timedelta(hours=1))
            for n in range(REMINDERS)
        )
        Reminder.objects.bulk_create(Reminder(task=task, remind_at=remind_at) for task in tasks)

        held_at_kills: list[int] = []
        killed_sends: set[str] = set()  # Message-IDs whose DATA was held when their worker died
        for _ in range(ROUNDS):
            smtp.hold_data()
            arrivals = len(smtp.handler.data_sends)
            wait_until(
                lambda arrivals=arrivals: len(smtp.handler.data_sends) >= arrivals + 3,
                timeout=60,
                message="sends held in DATA",
            )
            held_sends = dict(smtp.handler.data_sends[arrivals:])
            held = {index: _ports_owned_by(w.pid, set(held_sends), smtp.port) for index, w in enumerate(workers)}
            victim = max(held, key=lambda index: len(held[index]))
            processes.kill(workers[victim], signal.SIGKILL)
            held_at_kills.append(len(held[victim]))
            killed_sends |= {held_sends[port] for port in held[victim]}
            smtp.release_data()
            workers[victim] = processes.celery_worker(env=env)
            sent = len(smtp.messages)
            wait_until(lambda sent=sent: len(smtp.messages) >= min(REMINDERS, sent + 10), timeout=60)
        killed_at = time.monotonic()

        wait_until(
            lambda: Notification.objects.filter(user=owner, status=NotificationStatus.SENT).count() == REMINDERS,
            timeout=120,
            interval=0.5,
            message="every reminder sent",
        )
        time_to_recover = time.monotonic() - killed_at
        time.sleep(1)  # room for a late repeat to show
        messages = smtp.messages
    finally:
        smtp.stop()

    # What the test wrote: one reminder per task title; each e-mail names its task.
    wanted = set(range(REMINDERS))
    ids_of: dict[int, set[str]] = {}
    for message in messages:
        if match := TITLE.search(str(message.message["Subject"])):
            ids_of.setdefault(int(match.group(1)), set()).add(message.message_id)
    subjects = Counter({number: len(ids) for number, ids in ids_of.items()})
    by_id = Counter(message.message_id for message in messages)
    notifications = Notification.objects.filter(user=owner)
    attempts_of_killed = [n.attempts for n in notifications if str(n.message_id) in killed_sends]
    figures.record(
        reminders=REMINDERS,
        workers_killed=len(held_at_kills),
        sends_held_by_killed_worker=held_at_kills,
        emails_received=len(messages),
        distinct_message_ids=len(by_id),
        repeats_same_message_id=len(messages) - len(by_id),
        killed_sends_sent_again=sum(1 for attempts in attempts_of_killed if attempts >= 2),
        lost=len(wanted - set(subjects)),
        max_attempts=max(n.attempts for n in notifications),
        time_to_recover_s=time_to_recover,
    )
    assert all(held > 0 for held in held_at_kills), held_at_kills  # every kill landed during a send
    assert not Reminder.objects.filter(task__in=tasks).exclude(status=ReminderStatus.FIRED).exists()
    assert notifications.count() == REMINDERS
    assert {str(n.message_id) for n in notifications} == set(by_id)  # one Message-ID per reminder, stable
    # Each killed send ran again, with its Message-ID; this server drops a DATA whose client died
    # before the reply, so it arrives once (a server that kept it would show it twice, same id).
    assert len(attempts_of_killed) == len(killed_sends) == sum(held_at_kills)
    assert all(attempts >= 2 for attempts in attempts_of_killed), attempts_of_killed
    assert all(by_id[message_id] >= 1 for message_id in killed_sends)
    assert set(subjects) == wanted  # no reminder lost
    assert all(len(ids) == 1 for ids in ids_of.values()), ids_of  # a repeat keeps its Message-ID
