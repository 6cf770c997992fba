"""4. Task create and task list under concurrency vs a trivial JSON view on the same server.

One uvicorn process (as docker/entrypoint/web runs it: one process per container) with the
bench settings (`bench.settings`: the project's settings, plus `/bench/trivial/` in the
URLconf), closed-loop keep-alive clients, one user per connection. The relay and a Celery
worker run as in production (every create commits outbox rows and a relay wake-up).

Baseline: `bench.views.TrivialApi`, an authenticated DRF view that does nothing: GET for the
list, POST with the same body for the create."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from bench.config import Config
from bench.harness import Harness
from bench.httpload import LoadResult, request_bytes, run_load
from bench.scenarios.common import make_users, token_for
from bench.stats import Figure, Report, percentile
from tasks_app.services import task_create

SCENARIO = "4 REST"


def _body(sequence: int) -> dict[str, object]:
    return {
        "title": f"Prepare the quarterly report {sequence}",
        "description": "Collect the figures from finance and draft the summary.",
        "priority": "high",
        "tags": ["work", "reports"],
        "due_at": "2031-03-03T09:00:00+01:00",
        "timezone": "Europe/Berlin",
        "reminders": [{"offset_minutes": 30}],
    }


def _measure(harness: Harness, name: str, tokens: list[str], seconds: float) -> dict[str, LoadResult]:
    web, port = harness.uvicorn(name, DJANGO_SETTINGS_MODULE="bench.settings")

    def makers(method: str, path: str, body: bool) -> list[Callable[[int], bytes]]:
        return [
            (lambda seq, t=token: request_bytes(method, path, port=port, token=t, body=_body(seq) if body else None))
            for token in tokens
        ]

    run_load(port, makers("GET", "/bench/trivial/", False), 1.0)  # warm-up: connections, caches
    run_load(port, makers("GET", "/api/v1/tasks/?limit=20", False), 1.0)
    results = {
        "trivial GET": run_load(port, makers("GET", "/bench/trivial/", False), seconds),
        "task list": run_load(port, makers("GET", "/api/v1/tasks/?limit=20", False), seconds),
        "trivial POST": run_load(port, makers("POST", "/bench/trivial/", True), seconds),
        "task create": run_load(port, makers("POST", "/api/v1/tasks/", True), seconds),
    }
    harness.stop(web)
    if not all(result.ok for result in results.values()):
        raise RuntimeError(f"{name}: no successful request; see {web.log_path}")
    return results


def run(harness: Harness, config: Config, report: Report) -> None:
    users = make_users("bench-rest", config.rest_concurrency)
    due = timezone.now() + timedelta(days=7)
    for user in users:
        for i in range(config.rest_list_tasks):
            task_create(
                owner=user, title=f"existing task {i}", due_at=due, tags=["work"], reminders=[{"offset_minutes": 30}]
            )
    tokens = [token_for(user) for user in users]
    results = _measure(harness, "web-rest", tokens, config.rest_seconds)
    create, post = results["task create"], results["trivial POST"]
    listing, get = results["task list"], results["trivial GET"]
    report.add(
        Figure(
            SCENARIO,
            "task create throughput",
            "req/s",
            create.throughput,
            post.throughput,
            "trivial POST",
            ("ratio>=", 0.4),
        ),
        Figure(
            SCENARIO,
            "task create p99",
            "ms",
            percentile(create.latencies_ms, 99),
            percentile(post.latencies_ms, 99),
            "trivial POST",
        ),
        Figure(SCENARIO, "task list throughput", "req/s", listing.throughput, get.throughput, "trivial GET"),
        Figure(
            SCENARIO,
            "task list p99",
            "ms",
            percentile(listing.latencies_ms, 99),
            percentile(get.latencies_ms, 99),
            "trivial GET",
        ),
        Figure(
            SCENARIO,
            "failed responses",
            "",
            sum(sum(r.statuses.values()) - r.ok for r in results.values()),
            None,
            "",
            ("ours<=", 0),
            "HTTP 5xx, e.g. PostgreSQL out of connections",
        ),
    )
    report.scenarios[SCENARIO] = {
        "concurrency": config.rest_concurrency,
        "seconds_each": config.rest_seconds,
        "server_processes": 1,
        "tasks_per_user_for_list": config.rest_list_tasks,
        "page_size": 20,
        "requests": {
            name: {"requests": sum(r.statuses.values()), "throughput": r.throughput} for name, r in results.items()
        },
    }
