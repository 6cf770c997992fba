"""Each start script of the image (docker/entrypoint/) starts its role against the local
PostgreSQL, RabbitMQ, Redis and the run's Kafka broker, exactly as a container would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from kafka_bridge.embedded import free_port
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINTS = ROOT / "docker" / "entrypoint"
STARTUP_TIMEOUT = 40.0

# Children connect to the run's test database (subprocess_env). Roles that write nothing need no
# transactional test, which spares them the flush of every table at teardown; beat and relay
# write rows, so their tests are transactional.
uses_test_database = pytest.mark.django_db
writes_to_test_database = pytest.mark.django_db(transaction=True)


def role_env(**extra: str) -> dict[str, str]:
    env = subprocess_env(**extra)
    # Never the developer's database: only a test with database access sees the test one.
    assert env["DATABASE_URL"].endswith("/" + os.environ["TEST_DATABASE_NAME"]), env["DATABASE_URL"]
    # In the image the venv is on PATH; here it is the one running the tests.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def get(url: str) -> tuple[int, str] | None:
    """(status, body), or None while nothing answers."""
    request = urllib.request.Request(url, headers={"Host": "localhost"})  # noqa: S310 - local test server
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def start_role(processes: ManagedProcesses, *argv: str, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start `docker/entrypoint/<argv[0]> argv[1:]` with METRICS_PORT (or PORT) on a free port."""
    port = free_port()
    variables = {"PORT": str(port)} if argv[0] == "web" else {"METRICS_PORT": str(port)}
    process = processes.start(argv[0], [str(ENTRYPOINTS / argv[0]), *argv[1:]], role_env(**variables, **env))
    return process, port


def serving(process: subprocess.Popen[bytes], url: str) -> tuple[int, str] | None:
    if process.poll() is not None:
        pytest.fail(f"{url}: the process exited with {process.returncode}; see {process.log_path}")  # type: ignore[attr-defined]
    return get(url)


def healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command with this environment."""
    return subprocess.run(
        [str(ENTRYPOINTS / "healthcheck")], env=role_env(**env), capture_output=True, text=True, timeout=30, check=False
    )


def log_text(process: subprocess.Popen[bytes]) -> str:
    return Path(process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


@uses_test_database
def test_web_serves_health_readiness_and_metrics_in_production_mode(
    processes: ManagedProcesses, kafka_topics: None, tmp_path: Path
) -> None:
    process, port = start_role(
        processes,
        "web",
        DJANGO_ENV="production",
        SECRET_KEY="ops-test-secret-key-" + "s" * 48,
        JWT_SIGNING_KEY="ops-test-jwt-signing-key-0123456789",
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        STATIC_ROOT=str(tmp_path),
    )
    base = f"http://127.0.0.1:{port}"
    status, _ = wait_until(lambda: serving(process, f"{base}/healthz"), STARTUP_TIMEOUT, 0.2, "web /healthz")
    assert status == 200
    status, body = get(f"{base}/readyz")
    assert status == 200, body
    assert set(json.loads(body)["checks"]) == {"database", "rabbitmq", "redis", "kafka"}
    status, metrics = get(f"{base}/metrics")
    assert status == 200
    assert 'http_requests_total{method="GET",route="readyz",status="200"}' in metrics
    # uvicorn's own lines are JSON too (docker/uvicorn-logging.json).
    lines = [json.loads(line) for line in log_text(process).splitlines() if line.startswith("{")]
    uvicorn_lines = [line for line in lines if line["logger"].startswith("uvicorn")]
    assert any("Uvicorn running" in line["message"] for line in uvicorn_lines)
    # The image's HEALTHCHECK: web's /healthz when no METRICS_PORT is set.
    assert healthcheck(PORT=str(port)).returncode == 0
    dead = healthcheck(PORT=str(free_port()))
    assert dead.returncode == 1
    assert "unhealthy" in dead.stderr


@uses_test_database
def test_worker_consumes_jobs_and_serves_metrics(processes: ManagedProcesses) -> None:
    from todo_project.celery import app

    # A node name of its own: other workers on this machine (other test runs) share RabbitMQ.
    process, port = start_role(processes, "worker", "--hostname", f"ops-{os.environ['TEST_RUN_ID']}@%h")
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: serving(process, metrics_url), STARTUP_TIMEOUT, 0.2, "worker metrics port")
    wait_until(lambda: "ready." in log_text(process), STARTUP_TIMEOUT, 0.2, "worker ready")
    result = app.send_task("celery.accumulate", args=[2, 3], queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    wait_until(
        lambda: f"celery.accumulate[{result.id}] succeeded" in log_text(process), 20, 0.2, "the job to be consumed"
    )
    assert "concurrency: 8 (thread)" in log_text(process)
    # The image's HEALTHCHECK: the metrics port when METRICS_PORT is set.
    assert healthcheck(METRICS_PORT=str(port)).returncode == 0


@writes_to_test_database
def test_beat_starts_with_the_database_scheduler_and_serves_metrics(processes: ManagedProcesses) -> None:
    process, port = start_role(processes, "beat")
    wait_until(lambda: serving(process, f"http://127.0.0.1:{port}/metrics"), STARTUP_TIMEOUT, 0.2, "beat metrics")
    wait_until(lambda: "beat: Starting" in log_text(process), STARTUP_TIMEOUT, 0.2, "beat started")
    assert "todo_project.beat.DatabaseScheduler" in log_text(process)


@writes_to_test_database
def test_relay_starts_and_reports_the_outbox_backlog(processes: ManagedProcesses, kafka_topics: None) -> None:
    process, port = start_role(processes, "relay")
    status, metrics = wait_until(
        lambda: serving(process, f"http://127.0.0.1:{port}/metrics"), STARTUP_TIMEOUT, 0.2, "relay metrics"
    )
    assert status == 200
    assert "outbox_backlog" in metrics


@uses_test_database
@pytest.mark.parametrize("name", ["sync"])
def test_a_consumer_starts_by_name_and_serves_metrics(
    processes: ManagedProcesses, kafka_topics: None, name: str
) -> None:
    process, port = start_role(processes, "consumer", name)
    status, metrics = wait_until(
        lambda: serving(process, f"http://127.0.0.1:{port}/metrics"), STARTUP_TIMEOUT, 0.2, "consumer metrics"
    )
    assert status == 200
    assert "kafka_records_handled" in metrics


@uses_test_database
def test_migrate_applies_migrations_and_creates_the_topics_then_exits(processes: ManagedProcesses) -> None:
    process = processes.start("migrate", [str(ENTRYPOINTS / "migrate")], role_env())
    assert process.wait(timeout=120) == 0, log_text(process)
    output = log_text(process)
    assert "No migrations to apply" in output or "Applying" in output
    from confluent_kafka.admin import AdminClient

    from kafka_bridge.config import client_config
    from kafka_bridge.topics import Topic

    existing = set(AdminClient(client_config()).list_topics(timeout=10).topics)
    assert {name for topic in Topic for name in (topic.value, topic.dlq)} <= existing
