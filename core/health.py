"""Liveness (`/healthz`) and readiness (`/readyz`) endpoints.

Readiness checks every dependency in parallel with a short timeout each, so a dead dependency
makes the probe answer 503 within about two seconds instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from kombu import Connection

from kafka_bridge.config import client_config

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


def check_kafka() -> None:
    admin = AdminClient(client_config(**{"socket.timeout.ms": 2000, "log_level": 0}))
    admin.list_topics(timeout=CHECK_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "rabbitmq": check_rabbitmq,
    "redis": check_redis,
    "kafka": check_kafka,
}


def run_checks() -> dict[str, dict[str, object]]:
    def timed(check: Callable[[], None]) -> dict[str, object]:
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}

    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        futures = {name: pool.submit(timed, check) for name, check in CHECKS.items()}
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=CHECK_TIMEOUT_SECONDS + 1)
            except TimeoutError:
                results[name] = {"ok": False, "error": "timed out"}
    return results


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    ready = all(result["ok"] for result in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
