"""3. REST write → WebSocket frame: a task created with POST /api/v1/tasks/ at a steady rate,
until its `task.created` frame reaches the owner's open `/ws/sync/` socket. The whole path:
uvicorn + DRF + services, the outbox, the relay (`relay_outbox --loop`, woken by NOTIFY), Kafka,
the `sync` consumer, the Redis channel layer, the socket.

Baseline: raw produce → consume on the same broker at the same rate and duration, with the
relay's producer settings and the runner's fetch settings (`bench.kafka.raw_latency`)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.config import Config
from bench.harness import Harness
from bench.kafka import raw_latency, record_times, wait_caught_up
from bench.scenarios.common import make_users, token_for
from bench.stats import Figure, Report, percentile

SCENARIO = "3 REST→WebSocket"
# Writes (at the measured rate) whose frames are awaited and discarded before the samples.
WARM_UP_SECONDS = 1.0


async def _measure(port: int, user_id: int, token: str, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    base = f"http://127.0.0.1:{port}"
    async with (
        connect(f"ws://127.0.0.1:{port}/ws/sync/?token={token}", origin=base, compression=None, open_timeout=30) as ws,
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client,
    ):
        while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") != "ready":
            pass
        # Warm up the path first (the server's database connections, first-request imports and
        # caches), as the baseline warms both ends of its producer and consumer: the samples
        # measure the steady state of long-running processes.
        await _write_and_receive(ws, client, "warm-up", user_id, rate, WARM_UP_SECONDS)
        return await _write_and_receive(ws, client, "bench", user_id, rate, seconds)


async def _write_and_receive(
    ws: Any, client: httpx.AsyncClient, label: str, user_id: int, rate: float, seconds: float
) -> tuple[list[float], list[float]]:
    """POST tasks titled `label|user|sent_ns` at `rate` for `seconds`; (frame latencies, REST
    response times) in ms."""
    latencies: list[float] = []
    rest: list[float] = []
    expected = int(rate * seconds)

    async def receive() -> None:
        while len(latencies) < expected:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "task.created" and frame["task"]["title"].startswith(f"{label}|"):
                sent_ns = int(frame["task"]["title"].split("|")[2])
                latencies.append((time.time_ns() - sent_ns) / 1e6)

    async def write() -> None:
        sent_ns = time.time_ns()
        response = await client.post("/api/v1/tasks/", json={"title": f"{label}|{user_id}|{sent_ns}"})
        response.raise_for_status()
        rest.append((time.time_ns() - sent_ns) / 1e6)

    receiver = asyncio.create_task(receive())
    writes = []
    start = time.monotonic()
    for i in range(expected):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        writes.append(asyncio.create_task(write()))
    await asyncio.gather(*writes)
    try:
        await asyncio.wait_for(receiver, 30)
    except TimeoutError:
        receiver.cancel()
    return latencies, rest


def run(harness: Harness, config: Config, report: Report) -> None:
    user = make_users("bench-latency", 1)[0]
    token = token_for(user)
    sync = harness.consumer("sync")
    wait_caught_up("sync", ["task-updates"], timeout=120)
    web, port = harness.uvicorn("web-latency")
    ours, rest = asyncio.run(_measure(port, user.pk, token, config.latency_rate, config.latency_seconds))
    harness.stop(web)
    harness.stop(sync)
    raw = raw_latency(rate=config.latency_rate, duration=config.latency_seconds)
    report.samples[SCENARIO] = {"REST write → WS frame": ours, "raw Kafka produce→consume": raw, "REST response": rest}
    label = "raw Kafka"
    report.add(
        Figure(SCENARIO, "latency p50", "ms", percentile(ours, 50), percentile(raw, 50), label),
        Figure(SCENARIO, "latency p99", "ms", percentile(ours, 99), percentile(raw, 99), label, ("ratio<=", 3)),
    )
    report.scenarios[SCENARIO] = {
        "rate_per_s": config.latency_rate,
        "seconds": config.latency_seconds,
        "frames_received": len(ours),
        "writes": int(config.latency_rate * config.latency_seconds),
        "rest_response_p50_ms": percentile(rest, 50),
        "rest_response_p99_ms": percentile(rest, 99),
        "stages_ms": _stages(user),
    }


def _stages(user: object) -> dict[str, dict[str, float]]:
    """Where the time goes, per write, from the request being sent (stamped in the title): the
    task row's `created_at` (inside the request), its `task-updates` record handed to the relay's
    producer (the record's CreateTime) and its sync row stored (the `sync` consumer)."""
    from sync_app.models import SyncUpdate
    from tasks_app.models import Task

    tasks = {str(task.id): task for task in Task.objects.filter(owner=user, title__startswith="bench|")}
    sent = {task_id: int(task.title.split("|")[2]) / 1e9 for task_id, task in tasks.items()}
    written = {task_id: task.created_at.timestamp() for task_id, task in tasks.items()}
    produced = record_times("task-updates", "task.created")
    rows = SyncUpdate.objects.filter(type="task.created", user=user).values_list("task__id", "created_at")
    stored = {task_id: at.timestamp() for task_id, at in rows}

    def summary(times: dict[str, float]) -> dict[str, float]:
        samples = [(at - sent[task_id]) * 1000 for task_id, at in times.items() if task_id in sent]
        return {"p50": percentile(samples, 50), "p99": percentile(samples, 99)}

    return {
        "task row written": summary(written),
        "outbox row produced": summary(produced),
        "sync row stored": summary(stored),
    }
