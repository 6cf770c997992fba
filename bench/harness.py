"""What a benchmark run owns: its broker, its database, its queue names and its child processes.

`Harness.open()` must run before Django is set up: it points this process's environment (and so
every child's) at a fresh embedded broker on a free port (Apache Kafka or Tansu, `broker_kind`), a
database `bench_<id>` (created and migrated here, dropped at the end), a Celery queue and a
channel-layer prefix of its own. Nothing
that the run did not start is touched; everything it started is stopped in `close()`.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafka_bridge.embedded import EmbeddedBroker

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The open-files hard limit on our machines (DESIGN.md section 10): children raise to it.
NOFILE_WANTED = 20_000
# What docker/entrypoint/web sets: under ASGI every request runs in a thread of its own, so
# without a pool each one opens a PostgreSQL session (bench/README.md, performance).
WEB_DATABASE_POOL_MAX_SIZE = "10"
# The embedded brokers (kafka_bridge.embedded's kinds) as reports, roles and log files name them.
BROKER_NAMES = {"apache": "Apache Kafka", "tansu": "Tansu"}


def raise_nofile() -> None:
    """Raise this process's open-files soft limit to its hard limit (at most NOFILE_WANTED)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, NOFILE_WANTED) if hard != resource.RLIM_INFINITY else NOFILE_WANTED
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def wait_until(predicate: Callable[[], Any], timeout: float, message: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def rss_kib(pid: int) -> int:
    """Resident set size of one process, in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def child_pids(pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


class Child:
    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, text: str, timeout: float) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.log_path}")
            return text in self.log()

        wait_until(seen, timeout, f"{self.name}: {text!r} in {self.log_path}")


def broker_role(kind: str) -> str:
    """The broker's role in CPU and memory tables: "broker (Apache Kafka)", "broker (Tansu)"."""
    return f"broker ({BROKER_NAMES[kind]})"


def tansu_workarounds(kind: str) -> str:
    """KAFKA_TANSU_WORKAROUNDS for the children (unless the environment sets it): on exactly with
    Tansu, as the test harness sets it. The children get an explicit broker address, so settings
    would otherwise take them for an external broker and turn them off on Tansu too."""
    return os.environ.get("KAFKA_TANSU_WORKAROUNDS") or ("true" if kind == "tansu" else "false")


class Harness:
    def __init__(self, broker: str | None = None) -> None:
        """`broker`: "apache" or "tansu"; default KAFKA_EMBEDDED_BROKER's, else Tansu."""
        from kafka_bridge.embedded import broker_from_environment

        self.broker_kind = broker or broker_from_environment()
        if self.broker_kind not in BROKER_NAMES:
            raise ValueError(f"unknown broker {self.broker_kind!r}; one of {', '.join(BROKER_NAMES)}")
        self.run_id = uuid.uuid4().hex[:8]
        self.log_dir = Path(f"/tmp/todo-bench-{self.run_id}")
        self.db_name = f"bench_{self.run_id}"
        self.queue = f"bench-{self.run_id}"
        self.children: list[Child] = []
        self.broker: EmbeddedBroker | None = None
        self.db_params: dict[str, Any] = {}
        self.kafka = ""
        self.worker_count = 0

    # --- setup and teardown --------------------------------------------------------------------

    def open(self) -> None:
        """Broker, database, environment; then Django, migrations and topics."""
        import environ

        from kafka_bridge import embedded

        raise_nofile()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = embedded.free_port()
        self.kafka = f"127.0.0.1:{port}"
        log_path = self.log_dir / f"{self.broker_name.lower().replace(' ', '-')}.log"
        self.broker = embedded.start(port, broker=self.broker_kind, log_path=log_path)

        base = environ.Env.db_url_config(os.environ.get("DATABASE_URL", "postgres://postgres@localhost:5432/todo"))
        self.db_params = {
            "host": base.get("HOST") or "localhost",
            "port": int(base.get("PORT") or 5432),
            "user": base.get("USER") or None,
            "password": base.get("PASSWORD") or None,
        }
        self._admin_sql(f'CREATE DATABASE "{self.db_name}"')
        host = self.db_params["host"]
        auth = self.db_params["user"] or ""
        if self.db_params["password"]:
            auth += f":{self.db_params['password']}"
        os.environ.update(
            DJANGO_SETTINGS_MODULE="todo_project.settings",
            DATABASE_URL=f"postgres://{auth}{'@' if auth else ''}{host}:{self.db_params['port']}/{self.db_name}",
            KAFKA_BOOTSTRAP_SERVERS=self.kafka,
            KAFKA_TANSU_WORKAROUNDS=tansu_workarounds(self.broker_kind),
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            CHANNEL_LAYER_PREFIX=f"bench-{self.run_id}",
            LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            # As deployed: the relay loop runs, so writes wake it by NOTIFY only; no DEBUG (its
            # cursor wrapper times and keeps every statement).
            KAFKA_OUTBOX_CELERY_WAKEUP="false",
            DEBUG="false",
            # The scenarios drive a few users as fast as the server answers: the per-user limit
            # still counts every request (its cost is measured) but never refuses one.
            API_THROTTLE_USER_RATE="1000000/s",
            PYTHONUNBUFFERED="1",
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from kafka_bridge.topics import ensure_topics

        ensure_topics()

    @property
    def broker_name(self) -> str:
        return BROKER_NAMES[self.broker_kind]

    @property
    def broker_role(self) -> str:
        return broker_role(self.broker_kind)

    def close(self) -> None:
        self.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            self._delete_queue()
        if self.broker is not None:
            from kafka_bridge import embedded

            embedded.stop(self.broker)
            self.broker = None
        with contextlib.suppress(Exception):
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def _admin_sql(self, statement: str) -> None:
        import psycopg

        params = {k: v for k, v in self.db_params.items() if v is not None}
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as connection:
            connection.execute(statement)

    def _delete_queue(self) -> None:
        # Relay wake-ups that no worker took would otherwise stay in RabbitMQ under our queues.
        from todo_project.celery import app, worker_queues

        with app.connection_for_write() as connection:
            channel = connection.channel()
            for queue in worker_queues():
                channel.queue_delete(queue)

    # --- child processes --------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(extra)
        return env

    def start(self, name: str, argv: list[str], **env: str) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_nofile,
        )
        log.close()
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def manage(self, name: str, *command: str, **env: str) -> Child:
        return self.start(name, [PYTHON, "manage.py", *command], **env)

    def relay(self) -> Child:
        child = self.manage("relay", "relay_outbox", "--loop", LOG_LEVEL="INFO")
        child.wait_for_log("outbox relay is the leader", 60)
        return child

    def consumer(self, name: str, *, wait: bool = True, suffix: str = "", group: str = "") -> Child:
        """`run_consumer name`, in the definition's group or in `group` (a group of its own: on
        Tansu, members of one group stopped together wedge it, bench/README.md; Apache Kafka
        rebalances them, so a group of one is right on both)."""
        command = ["run_consumer", name, *(["--group", group] if group else [])]
        child = self.manage(f"consumer-{name}{suffix}", *command, LOG_LEVEL="INFO")
        if wait:
            child.wait_for_log("partitions assigned", 90)
        return child

    def celery_worker(self) -> Child:
        """Takes the relay wake-ups that every committed write enqueues (as in production)."""
        from todo_project.celery import worker_queues

        self.worker_count += 1
        node = f"bench-{self.run_id}-{self.worker_count}@%h"
        return self.start(
            f"celery-worker-{self.worker_count}",
            [
                *(PYTHON, "-m", "celery", "-A", "todo_project", "worker", "--pool=threads", "-c", "2"),
                *("-Q", ",".join(worker_queues()), "-n", node),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                *("-l", "WARNING"),
            ],
        )

    def celery_beat(self) -> Child:
        """The scheduler as docker/entrypoint/beat runs it (django-celery-beat's database
        scheduler): reminder dispatch every 0.5 s, the outbox sweep, the housekeeping jobs."""
        child = self.start(
            "celery-beat",
            [
                *(PYTHON, "-m", "celery", "-A", "todo_project", "beat", "-l", "INFO"),
                *("--schedule", str(self.log_dir / "celerybeat-schedule")),
            ],
        )
        child.wait_for_log("is starting.", 60)
        return child

    def uvicorn(
        self,
        name: str,
        *,
        app: str = "todo_project.asgi:application",
        workers: int = 1,
        health_path: str = "/healthz",
        **env: str,
    ) -> tuple[Child, int]:
        """The web server as docker/entrypoint/web runs it (no per-message deflate, a database
        pool of 10 per process unless `env` says otherwise), on a free port."""
        from kafka_bridge.embedded import free_port
        from todo_project.uvicorn_args import WEBSOCKET_ARGS

        env = {"DATABASE_POOL_MAX_SIZE": WEB_DATABASE_POOL_MAX_SIZE, **env}

        port = free_port()
        argv = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
        argv += [*WEBSOCKET_ARGS, "--lifespan", "off"]
        argv += ["--no-server-header", "--no-access-log", "--timeout-graceful-shutdown", "3"]
        argv += ["--backlog", "4096"]
        if workers > 1:
            argv += ["--workers", str(workers)]
        child = self.start(name, argv, **env)

        def healthy() -> bool:
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} exited; see {child.log_path}")
            try:
                url = f"http://127.0.0.1:{port}{health_path}"
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http URL
                    return response.status < 500
            except OSError:
                return False

        wait_until(healthy, 60, f"{name} on port {port}", interval=0.2)
        if workers > 1:
            wait_until(lambda: len(child_pids(child.pid)) >= workers, 30, f"{name} workers")
        return child, port

    def server_pids(self, child: Child) -> list[int]:
        """The processes that hold connections: the workers under uvicorn's supervisor (not
        multiprocessing's resource tracker, its other child), or itself."""

        def is_worker(pid: int) -> bool:
            try:
                return b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return False

        return [pid for pid in child_pids(child.pid) if is_worker(pid)] or [child.pid]

    def stop(self, child: Child, timeout: float = 10.0) -> None:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.process.wait()
        if child in self.children:
            self.children.remove(child)

    def stop_together(self, children: list[Child]) -> None:
        """Stop several children at once: all are signalled, then each is waited for. Never
        several members of one consumer group: Tansu wedges the group (bench/README.md, platform
        facts); Apache Kafka does not, and stopping them apart costs it nothing."""
        for child in children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            self.stop(child)

    def stop_all(self) -> None:
        for child in list(reversed(self.children)):
            self.stop(child)
