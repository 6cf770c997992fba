"""docker/compose.yaml: valid for `docker-compose config`, and a complete, ordered stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafka_bridge.brokers import apache
from tests.ops.chart import production_consumers

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = production_consumers()
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
ROLES = {"web": ["web"], "worker": ["worker"], "beat": ["beat"], "relay": ["relay"]} | {
    f"consumer-{name}": ["consumer", name] for name in CONSUMERS
}
INFRASTRUCTURE = {"postgres", "redis", "rabbitmq", "kafka", "mailpit"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as `docker-compose config` resolves it (anchors, merges, interpolation)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose; `make test` installs it)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_the_stack_runs_every_role_and_every_service_it_needs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == INFRASTRUCTURE | set(ROLES) | {"setup"}
    for name, command in ROLES.items():
        assert services[name]["command"] == command, name
    assert services["setup"]["command"] == ["migrate"]
    images = {services[name].get("image") for name in [*ROLES, "setup"]}
    assert len(images) == 1, "one image for every role"


def test_kafka_runs_in_kraft_mode_without_zookeeper(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in compose["services"]
    # Topics come from the set-up service only.
    assert str(kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"


def test_kafka_is_the_tests_apache_kafka_with_the_same_broker_settings(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{apache.version()}"
    environment = {name: str(value) for name, value in kafka["environment"].items()}
    wanted = {"KAFKA_" + name.upper().replace(".", "_"): value for name, value in apache.BROKER_SETTINGS.items()}
    assert {name: environment.get(name) for name in wanted} == wanted
    # The data folder is the volume's, so the broker's data outlives its container.
    assert f"kafka-data:{environment['KAFKA_LOG_DIRS']}:rw" in kafka["volumes"]


def test_roles_start_only_after_set_up_succeeded_and_their_dependencies_are_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["setup"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "kafka": {"condition": "service_healthy"},
    }
    for name in ROLES:
        depends = services[name]["depends_on"]
        assert depends["setup"] == {"condition": "service_completed_successfully"}, name
        for dependency in ("redis", "rabbitmq", "kafka"):
            assert depends[dependency] == {"condition": "service_healthy"}, (name, dependency)
    for name in INFRASTRUCTURE | set(ROLES):
        assert services[name]["healthcheck"]["test"], name


def test_roles_talk_to_the_stack_services_and_non_http_roles_serve_metrics(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in [*ROLES, "setup"]:
        env = services[name]["environment"]
        assert env["DJANGO_ENV"] == "production"
        assert len(env["SECRET_KEY"]) >= 50, "settings refuse shorter keys in production"
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        # The stack runs the relay loop, which LISTENs: writes skip the Celery wake-up.
        assert env["KAFKA_OUTBOX_CELERY_WAKEUP"] == "false"
        assert "@rabbitmq:5672" in env["CELERY_BROKER_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["EMAIL_HOST"] == "mailpit"
        # The image's healthcheck probes METRICS_PORT when set, web's /healthz otherwise.
        assert ("METRICS_PORT" in env) == (name not in {"web", "setup"}), name
    assert "localhost" in services["web"]["environment"]["ALLOWED_HOSTS"].split(",")
