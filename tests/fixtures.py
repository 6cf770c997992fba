"""Fixtures shared by every app's tests: users, authenticated API clients, Kafka topics, and
real child processes (relay, consumers, Celery worker, ASGI server) pointed at the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from core.auth.tokens import issue_token
from todo_project.celery import worker_queues

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("TEST_LOG_DIR", f"/tmp/todo-test-{os.environ['TEST_RUN_ID']}"))


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    def make(username: str, email: str | None = None, **extra: Any) -> Any:
        return get_user_model().objects.create_user(
            username=username, email=email or f"{username}@example.com", **extra
        )

    return make


@pytest.fixture
def user(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def other_user(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


def bearer_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(subject=user.username, email=user.email)}")
    return client


@pytest.fixture
def api_client(user: Any) -> APIClient:
    """An API client authenticated as `user` with a real JWT."""
    return bearer_client(user)


@pytest.fixture
def other_client(other_user: Any) -> APIClient:
    return bearer_client(other_user)


@pytest.fixture
def unthrottled(settings: Any) -> None:
    """No per-client request limits (core/throttling.py), for a test that deliberately sends
    thousands of requests as one user (schema fuzzing)."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None}}


@pytest.fixture(scope="session")
def kafka_topics() -> None:
    """The run's embedded broker (or KAFKA_BOOTSTRAP_SERVERS) with every topic created."""
    from kafka_bridge.topics import ensure_topics

    ensure_topics()


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process of ours: same settings, the test database."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db.get('USER') or ''}@{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"
        ),
        KAFKA_BOOTSTRAP_SERVERS=settings.KAFKA_BOOTSTRAP_SERVERS,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL=os.environ.get("CHILD_LOG_LEVEL", "INFO"),
    )
    env.update(extra)
    return env


class ManagedProcesses:
    """Starts real child processes and guarantees they are gone after the test."""

    def __init__(self, name_prefix: str) -> None:
        self.name_prefix = name_prefix
        self.processes: list[subprocess.Popen[bytes]] = []
        self.worker_count = 0

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"{self.name_prefix}-{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=ROOT, env=env or subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        self.processes.append(process)
        return process

    def manage(self, name: str, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, "manage.py", *command], env)

    def celery_worker(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A real worker on this run's queue. Its node name is unique: two workers with the same
        name on one RabbitMQ fight over the node's control (pidbox) queue and one crashes."""
        self.worker_count += 1
        node = f"test-{os.environ['TEST_RUN_ID']}-{os.getpid()}-{self.worker_count}@%h"
        return self.start(
            "celery-worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "todo_project",
                "worker",
                "--pool=threads",
                "-c",
                "4",
                "-Q",
                ",".join(worker_queues()),
                "--without-gossip",
                "--without-mingle",
                "-n",
                node,
                "-l",
                "INFO",
                *extra,
            ],
            env,
        )

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        # One after another, each waited for: two members of one consumer group stopped together
        # wedge the group on Tansu (bench/README.md, platform facts) for every later
        # test that uses it (seen when this stopped them side by side: the recurrence e2e
        # module's two members).
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=10)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[ManagedProcesses]:
    managed = ManagedProcesses(request.node.name[:60].replace("/", "_"))
    try:
        yield managed
    finally:
        managed.stop_all()


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, message: str = "") -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(interval)
