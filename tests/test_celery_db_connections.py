"""A Celery worker's jobs reuse their thread's PostgreSQL connection (CONN_MAX_AGE), and a job
after that connection's backend was killed still succeeds on a new one (CONN_HEALTH_CHECKS).

A real worker (threads pool, one thread) imports this module (`--include`) for its probe task,
which logs the PostgreSQL backend pid serving the job."""

from __future__ import annotations

import logging
import re

import pytest
from celery import shared_task
from django.db import connection

from tests.faults.support import log_text, wait_for_log
from tests.fixtures import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

logger = logging.getLogger(__name__)
PROBE_LINE = re.compile(r"db probe job=(\d+) backend_pid=(\d+)")


@shared_task(name="tests.celery_db_probe")
def report_backend_pid(job: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        logger.warning("db probe job=%s backend_pid=%s", job, cursor.fetchone()[0])


def run_jobs(worker: object, jobs: range) -> list[int]:
    """Each job's backend pid, in job order; the jobs run one after another (one thread)."""
    for job in jobs:
        report_backend_pid.delay(job)

    def reported() -> dict[int, int] | None:
        pids = {int(job): int(pid) for job, pid in PROBE_LINE.findall(log_text(worker))}
        return pids if all(job in pids for job in jobs) else None

    pids = wait_until(reported, timeout=60, message=f"jobs {list(jobs)} in the worker's log")
    return [pids[job] for job in jobs]


def test_jobs_share_one_connection_and_survive_its_backend_being_killed(processes):
    worker = processes.celery_worker("-c", "1", "--include", __name__)
    wait_for_log(worker, " ready.", timeout=90)

    before = run_jobs(worker, range(0, 5))
    assert len(set(before)) == 1, f"each job opened a connection of its own: backend pids {before}"

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [before[0]])
        assert cursor.fetchone()[0], "the worker's backend was not terminated"

    after = run_jobs(worker, range(5, 8))
    assert before[0] not in after, f"a job ran on the terminated backend: {after}"
    assert len(set(after)) == 1, f"each job opened a connection of its own: backend pids {after}"


@pytest.mark.django_db
def test_a_job_run_eagerly_leaves_its_callers_connection_and_transaction_alone() -> None:
    caller = connection.connection

    report_backend_pid.apply(args=[0]).get()

    assert connection.connection is caller
    assert connection.in_atomic_block  # the test's transaction is still open
