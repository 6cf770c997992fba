"""5. WebSocket scale: N concurrent authenticated `/ws/sync/` connections of N distinct users,
while task updates flow at a steady rate spread over those users, each to be delivered to its
owner only.

Server: uvicorn with `--workers W` (W processes sharing the port, as W replicas behind a load
balancer would), no per-message deflate, open-files limit raised to the hard cap; the real `sync`
consumer(s). Updates are `task.updated` events produced straight onto `task-updates` (what the
relay publishes; the REST → WebSocket path is scenario 3), the publish time stamped in the task
title. Clients: several processes (`bench.wsclient`), each holding a share of the sockets.

Figures: connections held, delivery p99 (baseline: raw Kafka produce→consume at the same rate),
memory per connection = RSS growth of the server processes / N (baseline: a bare ASGI app that
accepts and holds sockets on the same uvicorn settings, `bench.bare_ws`), misdelivered frames."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import time
from pathlib import Path

from confluent_kafka import Producer

from bench.config import Config
from bench.events import record_headers, task_updated
from bench.harness import PYTHON, Harness, rss_kib, wait_until
from bench.kafka import raw_latency, wait_caught_up
from bench.scenarios.common import make_users, token_for
from bench.stats import Figure, Report, percentile
from kafka_bridge.producer import producer_config

SCENARIO = "5 WebSocket scale"


def _clients(harness: Harness, name: str, port: int, pairs: list[list[object]], processes: int, wait_ready: bool):
    directory = harness.log_dir / name
    directory.mkdir(exist_ok=True)
    clients = []
    for index in range(processes):
        share = pairs[index::processes]
        tokens = directory / f"tokens-{index}.json"
        tokens.write_text(json.dumps(share))
        argv = [PYTHON, "-m", "bench.wsclient", "--url", f"ws://127.0.0.1:{port}/ws/sync/", "--tokens", str(tokens)]
        argv += ["--ready", str(directory / f"ready-{index}.json"), "--out", str(directory / f"out-{index}.json")]
        argv += ["--max-seconds", "600"] + (["--wait-ready"] if wait_ready else [])
        clients.append(harness.start(f"{name}-client-{index}", argv))
    return clients, directory


def _wait_ready(directory: Path, processes: int, timeout: float) -> dict[str, float]:
    files = [directory / f"ready-{i}.json" for i in range(processes)]
    wait_until(lambda: all(f.exists() for f in files), timeout, f"{processes} client processes connected", 0.5)
    ready = [json.loads(f.read_text()) for f in files]
    return {
        "connected": sum(r["connected"] for r in ready),
        "failed": sum(r["failed"] for r in ready),
        "seconds": max(r["seconds"] for r in ready),
    }


def _collect(harness: Harness, clients: list, directory: Path) -> list[dict]:
    for client in clients:
        client.process.send_signal(signal.SIGUSR1)
    outs = [directory / f"out-{i}.json" for i in range(len(clients))]
    wait_until(lambda: all(f.exists() for f in outs), 60, "client results")
    for client in clients:
        harness.stop(client)
    return [json.loads(f.read_text()) for f in outs]


def _server_rss(harness: Harness, web) -> int:
    return sum(rss_kib(pid) for pid in harness.server_pids(web))


def _hold(harness: Harness, config: Config, name: str, pairs, app: str, wait_ready: bool, health: str, **env: str):
    """Start a server and the clients; returns (web, clients, directory, ready, rss per conn KiB)."""
    web, port = harness.uvicorn(name, app=app, workers=config.ws_server_workers, health_path=health, **env)
    time.sleep(1.0)
    before = _server_rss(harness, web)
    clients, directory = _clients(harness, name, port, pairs, config.ws_client_processes, wait_ready)
    ready = _wait_ready(directory, config.ws_client_processes, timeout=120 + len(pairs) / 50)
    time.sleep(2.0)  # let the servers settle (buffers released, timers armed)
    after = _server_rss(harness, web)
    per_connection = (after - before) / max(1, ready["connected"])
    return web, clients, directory, ready, per_connection, len(harness.server_pids(web))


def _publish(users: list, rate: float, seconds: float) -> int:
    producer = Producer(producer_config())
    # Connected and holding the topic's metadata before the first time stamp, as the relay's
    # long-running producer is (and the raw baseline's, `bench.kafka`): the client's bootstrap
    # is not part of the delivery time.
    producer.list_topics("task-updates", timeout=10)
    count = int(rate * seconds)
    start = time.monotonic()
    for i in range(count):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        user = random.choice(users)
        event = task_updated(user_id=user.pk, title=f"bench|{user.pk}|{time.time_ns()}")
        producer.produce(
            "task-updates", key=event.subject.encode(), value=event.to_json(), headers=record_headers(event)
        )
        producer.poll(0)
    producer.flush(30)
    return count


def run(harness: Harness, config: Config, report: Report) -> None:
    n = config.ws_connections
    users = make_users("bench-ws", n)
    pairs = [[user.pk, token_for(user, ttl_seconds=3600)] for user in users]

    # Baseline first: bare sockets on the same server settings.
    web, clients, directory, bare_ready, bare_per_conn, bare_processes = _hold(
        harness, config, "ws-bare", pairs, "bench.bare_ws:application", False, "/"
    )
    _collect(harness, clients, directory)
    harness.stop(web)

    consumers = [harness.consumer("sync", suffix=f"-{i}") for i in range(config.ws_sync_consumers)]
    wait_caught_up("sync", ["task-updates"], timeout=180)
    web, clients, directory, ready, per_conn, processes = _hold(
        harness, config, "ws-sync", pairs, "todo_project.asgi:application", True, "/healthz"
    )
    published = _publish(users, config.ws_update_rate, config.ws_update_seconds)
    with contextlib.suppress(TimeoutError):  # reported below as undelivered updates
        wait_caught_up("sync", ["task-updates"], timeout=60)
    time.sleep(2.0)
    outs = _collect(harness, clients, directory)
    harness.stop(web)
    for consumer in consumers:
        harness.stop(consumer)
    raw = raw_latency(rate=config.ws_update_rate, duration=min(5.0, config.ws_update_seconds))

    latencies = [value for out in outs for value in out["latencies_ms"]]
    misdelivered = sum(out["misdelivered"] for out in outs)
    connected = sum(out["connected"] for out in outs)
    report.samples[SCENARIO] = {"update → owner's socket": latencies, "raw Kafka produce→consume": raw}
    report.add(
        Figure(SCENARIO, "connections held", "", connected, n, "wanted", ("ratio>=", 1.0)),
        Figure(
            SCENARIO,
            "delivery p99",
            "ms",
            percentile(latencies, 99),
            percentile(raw, 99),
            "raw Kafka",
            ("ours<=", 1000),
        ),
        Figure(
            SCENARIO,
            "memory per connection",
            "KB",
            per_conn * 1.024,
            bare_per_conn * 1.024,
            "bare ASGI",
            ("ours<=", 50),
        ),
        Figure(SCENARIO, "updates delivered", "", len(latencies), published, "published", ("ratio>=", 1.0)),
        Figure(SCENARIO, "frames to the wrong user", "", misdelivered, None, "", ("ours<=", 0)),
    )
    report.scenarios[SCENARIO] = {
        "connections": n,
        "update_rate_per_s": config.ws_update_rate,
        "update_seconds": config.ws_update_seconds,
        "server_processes": {"uvicorn workers": processes, "sync consumers": config.ws_sync_consumers},
        "bare_server_processes": bare_processes,
        "client_processes": config.ws_client_processes,
        "connect_seconds": ready["seconds"],
        "connect_failures": ready["failed"],
        "bare_connect_seconds": bare_ready["seconds"],
        "delivery_p50_ms": percentile(latencies, 50),
        "closed_early": sum(out["closed_early"] for out in outs),
        "client_errors": [error for out in outs for error in out["failed"]][:10],
    }
