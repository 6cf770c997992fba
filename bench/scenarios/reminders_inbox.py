"""6b. Reminders to the inbox (issue 24 part 5): N reminders due within one window (full: 10,000
within a minute; quick: 200 at one instant, as the issue's `make dev` try), measured from
`remind_at` until an SMTP server accepts the e-mail, with a REST load running meanwhile.

The whole path runs as deployed: `dispatch_reminders --loop` (beat's dispatch, its defaults),
the outbox relay, `run_consumer notifications`, and two Celery workers started by
`docker/entrypoint/worker` with its defaults (the Helm chart's two replicas; every queue), which
send through Django's SMTP backend to an aiosmtpd server in this process (the test suite's,
`notifications_app.tests.smtp`, with a handler that records only each message's Message-ID and
when it was accepted). The bench's own worker (2 threads) is stopped meanwhile, so only the
deployed ones send. Meanwhile one uvicorn process (as `docker/entrypoint/web`) answers task
creates and lists at a fixed rate (`inbox_rest_rate`). The other consumers (audit, sync,
recurrence) do not run.

Each accepted message is mapped to its reminder by its Message-ID (the notification's); every
figure is computed from the rows and messages of this run: e-mails received of expected,
duplicates (one Message-ID accepted twice), missing (a reminder without its e-mail 120 s after
the window's end; in the percentiles it counts as arriving then, so they are lower bounds). Baselines:
the fire lag of the same reminders (`fired_at - remind_at`: what the send path adds on top), and
a raw smtplib loop from this process to the same server (one e-mail per connection, as Django's
backend sends a single message, and many over one connection)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import smtplib
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bench.config import Config
from bench.harness import Child, Harness, wait_until
from bench.httpload import LoadResult, request_bytes, run_load
from bench.scenarios.common import make_users, token_for
from bench.stats import Figure, Report, percentile
from notifications_app.models import Notification
from notifications_app.tests.smtp import ScriptedHandler, SMTPTestServer
from tasks_app.models import Reminder, Task

SCENARIO = "6b reminders → inbox"
PREFIX = "bench-inbox"
WORKERS = 2  # helm/todo-backend/values.yaml: worker.replicas
LEAD_SECONDS = 2.0  # between writing the due times and the first of them
WARM_UP_REMINDERS = 5
RAW_SENDS = 200
# E-mails not in this long after the window's last due time are reported missing.
DEADLINE_AFTER_WINDOW_SECONDS = 120


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class AcceptanceHandler(ScriptedHandler):
    """The test suite's SMTP handler, recording only (Message-ID, time accepted) of each message:
    parsing every message (as `ReceivedMessage` does) cost this process ~3 ms of CPU each, taken
    from the system under test on a 2-core machine."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[str, float]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        head = raw.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        self.accepted.append((found.group(1).decode() if found else "", time.time()))
        return "250 OK: queued"


def _reminders(users: list[Any], count: int, title: str) -> list[Reminder]:
    placeholder = timezone.now() + timedelta(days=3650)
    tasks = Task.objects.bulk_create(
        [Task(owner=users[i % len(users)], title=f"{title} {i}", due_at=placeholder) for i in range(count)],
        batch_size=2000,
    )
    return Reminder.objects.bulk_create(
        [Reminder(task=task, remind_at=placeholder, offset_minutes=None) for task in tasks], batch_size=2000
    )


def _make_due(reminder_ids: list[Any], start: float, window: float) -> None:
    """Due times spread at random over [start, start + window] (all at `start` for window 0)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_app_reminder SET remind_at = to_timestamp(%s) + random() * %s * interval '1 second' "
            "WHERE id = ANY(%s)",
            [start, window, reminder_ids],
        )


def _deployed_worker(harness: Harness, index: int, smtp_env: dict[str, str]) -> Child:
    """A worker as `docker/entrypoint/worker` starts it (its pool, concurrency and queues), at INFO."""
    node = f"bench-{harness.run_id}-inbox-{index}@%h"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return harness.start(
        f"celery-worker-inbox-{index}",
        ["bash", "docker/entrypoint/worker", "--hostname", node],
        PATH=path,
        LOG_LEVEL="INFO",
        **smtp_env,
    )


def _rest_makers(port: int, tokens: list[str]) -> list[Callable[[int], bytes]]:
    """Half the connections create tasks (no reminders: they would add e-mails), half list them."""

    def create(token: str) -> Callable[[int], bytes]:
        body = {"title": "Buy bread", "due_at": "2031-03-03T09:00:00+01:00", "timezone": "Europe/Berlin"}
        return lambda seq: request_bytes(
            "POST", "/api/v1/tasks/", port=port, token=token, body=body | {"title": f"Buy bread {seq}"}
        )

    def listing(token: str) -> Callable[[int], bytes]:
        return lambda seq: request_bytes("GET", "/api/v1/tasks/?limit=20", port=port, token=token)

    return [create(t) if i % 2 == 0 else listing(t) for i, t in enumerate(tokens)]


def _raw_smtp_ms_per_email(host: str, port: int, count: int, *, reuse: bool) -> float:
    """A raw smtplib loop to the same server: milliseconds per accepted e-mail."""
    started = time.perf_counter()
    client = smtplib.SMTP(host, port, timeout=10) if reuse else None
    for i in range(count):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "bench@localhost", "raw@example.com", f"raw {i}"
        message["Message-ID"] = f"<raw-{reuse}-{i}@bench>"
        message.set_content("raw send")
        if reuse:
            client.send_message(message)
        else:
            with smtplib.SMTP(host, port, timeout=10) as one:
                one.send_message(message)
    if client is not None:
        client.quit()
    return (time.perf_counter() - started) * 1000 / count


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _service_pids() -> dict[str, list[int]]:
    """The machine's PostgreSQL and RabbitMQ processes (shared with anything else running)."""
    found: dict[str, list[int]] = {"postgresql (all sessions)": [], "rabbitmq": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name == "postgres":
            found["postgresql (all sessions)"].append(int(entry.name))
        elif name == "beam.smp":
            found["rabbitmq"].append(int(entry.name))
    return found


def _cpu_snapshot(harness: Harness, children: list[Child]) -> dict[str, float]:
    """CPU seconds used so far by each process on the path: where a window's CPU went."""
    snapshot = {child.name: _cpu_seconds(child.pid) for child in children}
    for child in harness.children:
        if child.name == "relay":
            snapshot["relay"] = _cpu_seconds(child.pid)
    broker = getattr(harness.broker, "process", None)
    if broker is not None:
        snapshot[harness.broker_role] = _cpu_seconds(broker.pid)
    for name, pids in _service_pids().items():
        snapshot[name] = sum(_cpu_seconds(pid) for pid in pids)
    times = os.times()
    snapshot["bench process (SMTP server, REST load)"] = times.user + times.system
    return snapshot


def _stage_ms(rows: list[dict[str, Any]], end: str, begin: str) -> list[float]:
    return [(row[end] - row[begin]) * 1000 for row in rows if row.get(end) is not None and row.get(begin) is not None]


def run(harness: Harness, config: Config, report: Report) -> None:
    n, window = config.inbox_reminders, config.inbox_window_seconds
    users = make_users(PREFIX, max(2, n // 10))
    warm_up = _reminders(users, WARM_UP_REMINDERS, "warm-up call")
    measured = _reminders(users, n, "call the plumber")
    smtp = SMTPTestServer()
    handler = smtp.handler = smtp._controller.handler = AcceptanceHandler()
    smtp.start()
    started_children: list[Child] = []
    load_result: dict[str, LoadResult] = {}
    # Only the deployed workers send: the bench's own worker (2 threads) steps aside.
    bench_workers = [child for child in harness.children if child.name.startswith("celery-worker-")]
    try:
        for child in bench_workers:
            harness.stop(child)
        smtp_env = {**smtp.env(), "EMAIL_HOST_PASSWORD": ""}
        dispatcher = harness.manage("dispatch-reminders-inbox", "dispatch_reminders", "--loop", **smtp_env)
        consumer = harness.manage("consumer-notifications", "run_consumer", "notifications", LOG_LEVEL="INFO")
        workers = [_deployed_worker(harness, i + 1, smtp_env) for i in range(WORKERS)]
        started_children += [dispatcher, consumer, *workers]
        web, port = harness.uvicorn("web-inbox")
        started_children.append(web)
        dispatcher.wait_for_log("dispatching due reminders every", 60)
        consumer.wait_for_log("partitions assigned", 90)
        for worker in workers:
            worker.wait_for_log(" ready.", 60)

        # Warm-up through the whole path (templates, connections), then the measured window.
        _make_due([r.id for r in warm_up], time.time(), 0)
        wait_until(lambda: len(handler.accepted) >= WARM_UP_REMINDERS, 60, "the warm-up e-mails", 0.2)
        handler.accepted.clear()

        start = time.time() + LEAD_SECONDS
        load_seconds = LEAD_SECONDS + window + 5
        tokens = [token_for(user) for user in users[:4]]
        loader = threading.Thread(
            target=lambda: load_result.update(
                rest=run_load(port, _rest_makers(port, tokens), load_seconds, rate=config.inbox_rest_rate)
            ),
            daemon=True,
        )
        loader.start()
        cpu_before = _cpu_snapshot(harness, started_children)
        _make_due([r.id for r in measured], start, window)
        # Until every reminder's e-mail is in, or the deadline: what is missing then is reported.
        # Both sets grow as they are read, so the wait costs little (the machine has 2 cores).
        ids = [r.id for r in measured]
        deadline = start + window + DEADLINE_AFTER_WINDOW_SECONDS
        wanted: set[str] = set()
        seen: set[str] = set()
        read = 0
        while time.time() < deadline:
            if len(wanted) < n:
                wanted = set(Notification.objects.filter(reminder_id__in=ids).values_list("message_id", flat=True))
            new = handler.accepted[read:]
            read += len(new)
            seen.update(message_id for message_id, _ in new)
            if len(wanted) >= n and len(seen & wanted) >= n:
                break
            time.sleep(0.5)
        waited_until = time.time()
        cpu_after = _cpu_snapshot(harness, started_children)
        cpu = {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2) for name in cpu_after}
        time.sleep(1.0)  # room for a late repeat to show
        loader.join(timeout=load_seconds + 30)
        accepted = list(handler.accepted)
        raw_sends = min(RAW_SENDS, n)
        raw_ms = {
            "one connection per e-mail": _raw_smtp_ms_per_email(smtp.host, smtp.port, raw_sends, reuse=False),
            "one connection for all": _raw_smtp_ms_per_email(smtp.host, smtp.port, raw_sends, reuse=True),
        }
    finally:
        for child in started_children:  # all told at once: each takes seconds to stop
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in started_children:
            harness.stop(child)
        smtp.stop()
        for _ in bench_workers:
            harness.celery_worker()  # the bench's worker back, for the scenarios after this one
    _report(report, config, measured, accepted, raw_ms, load_result.get("rest"), cpu, waited_until)


def _report(
    report: Report,
    config: Config,
    reminders: list[Reminder],
    messages: list[tuple[str, float]],
    raw_ms: dict[str, float],
    rest: LoadResult | None,
    cpu: dict[str, float],
    waited_until: float,
) -> None:
    ids = [r.id for r in reminders]
    accepted: dict[str, list[float]] = {}
    for message_id, accepted_at in messages:
        accepted.setdefault(message_id, []).append(accepted_at)
    rows = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.message_id, extract(epoch FROM r.remind_at), extract(epoch FROM r.fired_at), "
            "extract(epoch FROM n.created_at), extract(epoch FROM n.sent_at) "
            "FROM tasks_app_reminder r LEFT JOIN notifications_app_notification n ON n.reminder_id = r.id "
            "WHERE r.id = ANY(%s)",
            [ids],
        )
        for message_id, remind_at, fired_at, created_at, sent_at in cursor.fetchall():
            times = accepted.get(message_id or "", [])
            rows.append(
                {
                    "message_id": message_id,
                    "remind_at": float(remind_at),
                    "fired_at": float(fired_at) if fired_at is not None else None,
                    "created_at": float(created_at) if created_at is not None else None,
                    "sent_at": float(sent_at) if sent_at is not None else None,
                    "accepted_at": min(times) if times else None,
                    "copies": len(times),
                }
            )
    expected = len(reminders)
    # An e-mail still missing when the wait ended counts as arriving then: a lower bound.
    inbox = [
        ((row["accepted_at"] or waited_until) - row["remind_at"]) * 1000 for row in rows if row["remind_at"] is not None
    ]
    fire = _stage_ms(rows, "fired_at", "remind_at")
    received = sum(1 for row in rows if row["copies"])
    duplicates = sum(row["copies"] - 1 for row in rows if row["copies"] > 1)
    lost = expected - received
    bound = f"{lost} missing counted at the wait's end: at least this" if lost else ""
    ours = {row["message_id"] for row in rows}
    others = Counter(message_id for message_id, _ in messages if message_id not in ours)
    accepted_times = sorted(row["accepted_at"] for row in rows if row["accepted_at"] is not None)
    report.samples[SCENARIO] = {"due → SMTP accepted": inbox, "fire lag (same reminders)": fire}
    label = "fire lag, same reminders"
    raw_label = "raw smtplib, one connection for all"
    report.add(
        Figure(
            SCENARIO, "due → SMTP accepted p50", "ms", percentile(inbox, 50), percentile(fire, 50), label, note=bound
        ),
        Figure(
            SCENARIO,
            "due → SMTP accepted p99",
            "ms",
            percentile(inbox, 99),
            percentile(fire, 99),
            label,
            ("ours<=", 2000),
            note=bound,
        ),
        Figure(SCENARIO, "e-mails received", "", received, expected, "expected", ("ratio>=", 1)),
        Figure(SCENARIO, "e-mails accepted twice (duplicates)", "", duplicates, None, "", ("ours<=", 0)),
        Figure(
            SCENARIO,
            f"e-mails missing {DEADLINE_AFTER_WINDOW_SECONDS} s after the window (lost)",
            "",
            lost,
            None,
            "",
            ("ours<=", 0),
        ),
        Figure(
            SCENARIO,
            "raw smtplib, one connection per e-mail",
            "ms",
            raw_ms["one connection per e-mail"],
            raw_ms["one connection for all"],
            raw_label,
        ),
    )
    if rest is not None:
        report.add(
            Figure(SCENARIO, "REST load meanwhile", "req/s", rest.ok / rest.seconds, config.inbox_rest_rate, "asked")
        )
    report.scenarios[SCENARIO] = {
        "reminders": expected,
        "window_seconds": config.inbox_window_seconds,
        "workers": WORKERS,
        "received": received,
        "duplicates": duplicates,
        "lost": lost,
        "other_messages": sum(others.values()),
        "accepted_span_seconds": (accepted_times[-1] - accepted_times[0]) if accepted_times else None,
        "stages_ms": {
            "due → fired (dispatcher)": _quantiles(fire),
            "fired → notification created (relay, Kafka, consumer)": _quantiles(
                _stage_ms(rows, "created_at", "fired_at")
            ),
            "created → sent recorded (Celery queue, worker, SMTP)": _quantiles(
                _stage_ms(rows, "sent_at", "created_at")
            ),
            "due → SMTP accepted": _quantiles(inbox),
        },
        "raw_smtp_ms_per_email": raw_ms,
        # From the due times being written until the last e-mail was in.
        "cpu_seconds_per_process": dict(sorted(cpu.items(), key=lambda item: -item[1])),
        "rest": None
        if rest is None
        else {
            "asked_rate": config.inbox_rest_rate,
            "ok": rest.ok,
            "seconds": rest.seconds,
            "statuses": rest.statuses,
            "p99_ms": percentile(rest.latencies_ms, 99),
        },
    }


def _quantiles(values: list[float]) -> dict[str, float]:
    return {"count": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99)}
