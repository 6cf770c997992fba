"""Liveness (`/healthz`) and readiness (`/readyz`) by role (DESIGN.md section 9).

Readiness checks a role's dependencies in parallel with a short timeout each, so a dead one
makes the probe answer within about two seconds instead of hanging. A role is unavailable (503)
only while something it cannot work without is down; what it can do without is still reported,
as "degraded" (200). Web serves `/readyz` itself; the other roles serve the same answer on
METRICS_PORT (core/metrics_server.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from kombu import Connection

CHECK_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        # Runs in a pool thread: its connection must not outlive the check.
        connections.close_all()


def check_rabbitmq() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=0, timeout=CHECK_TIMEOUT_SECONDS)


def check_redis() -> None:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_SECONDS, socket_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


# The checks of the services core knows; an app that brings a service registers its check
# (`register_check`), so core imports no app: kafka_bridge registers "kafka".
CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "rabbitmq": check_rabbitmq,
    "redis": check_redis,
}


def register_check(name: str, check: Callable[[], None]) -> None:
    """Add the readiness check of a service an app brings (called from its AppConfig.ready)."""
    CHECKS[name] = check


@dataclass(frozen=True)
class Needs:
    """A role's dependencies: `required` ones make it unavailable while down, `reported` ones
    only degraded."""

    required: frozenset[str]
    reported: frozenset[str] = frozenset()


ROLES: dict[str, Needs] = {
    # Requests need PostgreSQL; WebSockets (channel layer) and the cache (rate limits) need Redis.
    # A write's events wait in the outbox while Kafka or RabbitMQ is down.
    "web": Needs(required=frozenset({"database", "redis"}), reported=frozenset({"kafka", "rabbitmq"})),
    "worker": Needs(required=frozenset({"database", "rabbitmq"})),
    # django-celery-beat's DatabaseScheduler reads the schedule from PostgreSQL.
    "beat": Needs(required=frozenset({"database", "rabbitmq"})),
    "relay": Needs(required=frozenset({"database", "kafka"})),
    "consumer": Needs(required=frozenset({"database", "kafka"})),
}


def run_checks(names: Iterable[str] = CHECKS) -> dict[str, dict[str, object]]:
    """The named checks, run in parallel: `{"ok": True, "latency_ms"}` or `{"ok": False, "error"}`."""
    checks = {name: CHECKS[name] for name in sorted(names)}

    def timed(check: Callable[[], None]) -> dict[str, object]:
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}

    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(timed, check) for name, check in checks.items()}
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=CHECK_TIMEOUT_SECONDS + 1)
            except TimeoutError:
                results[name] = {"ok": False, "error": "timed out"}
    return results


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readiness(role: str) -> tuple[int, dict[str, object]]:
    """(HTTP status, body) of `role`'s readiness: 503 "unavailable" while a required dependency
    is down, else 200, "degraded" while a reported one is down, "ok" when all are up."""
    needs = ROLES[role]
    results = run_checks(needs.required | needs.reported)
    down = {name for name, result in results.items() if not result["ok"]}
    status = "unavailable" if down & needs.required else "degraded" if down else "ok"
    return (503 if status == "unavailable" else 200), {"status": status, "role": role, "checks": results}


def readyz(request: HttpRequest) -> JsonResponse:
    status, body = readiness("web")
    return JsonResponse(body, status=status)
