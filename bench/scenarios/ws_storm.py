"""8. Reconnect storm: N live sockets of N users (opened at OPEN_RATE a second) all reconnect with
their cursors within `storm_seconds` of each other, as every browser does after a web restart or
a 1011 close, against one uvicorn process (as `make dev` runs it) and the real `sync` consumer,
while task updates flow to those users.

Clients: `bench.storm`, which behaves as the /live/ page: answers every ping, retries a refused
(503) or failed handshake after a full-jitter exponential backoff, resumes with its cursor.

Figures: seconds until every socket is live (target ≤ 60), handshakes left to time out (0), live
sockets closed by the server, e.g. 4408 for a missed pong (0), updates lost (0), and how fast a
refusal is answered."""

from __future__ import annotations

import random
import time

from confluent_kafka import Producer

from bench.config import Config
from bench.events import record_headers, task_updated
from bench.harness import Harness
from bench.kafka import wait_caught_up
from bench.scenarios.common import make_users, token_for
from bench.stats import Figure, Report, percentile
from bench.storm import Storm, wait_for
from kafka_bridge.producer import producer_config

SCENARIO = "8 reconnect storm"
BACK_WITHIN_SECONDS = 60.0
UPDATE_RATE = 50.0
OPEN_RATE = 200.0  # handshakes a second before the storm (the rate)
# Handshakes opening at once: each waits on several round trips (PostgreSQL, Redis) that a
# CPU-starved process is slow to resume from, so 64 kept the process half idle (bench/README.md).
MAX_OPENING = 256


def _publish(users: list, rate: float, seconds: float) -> dict[int, set[str]]:
    producer = Producer(producer_config())
    producer.list_topics("task-updates", timeout=10)
    published: dict[int, set[str]] = {}
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        user = random.choice(users)
        event = task_updated(user_id=user.pk, title=f"storm {i}")
        producer.produce(
            "task-updates", key=event.subject.encode(), value=event.to_json(), headers=record_headers(event)
        )
        producer.poll(0)
        published.setdefault(user.pk, set()).add(str(event.id))
    producer.flush(30)
    return published


def run(harness: Harness, config: Config, report: Report) -> None:
    n = config.ws_connections
    users = make_users("bench-storm", n)
    pairs = [(user.pk, token_for(user, ttl_seconds=3600)) for user in users]
    consumer = harness.consumer("sync", suffix="-storm")
    wait_caught_up("sync", ["task-updates"], timeout=180)
    # Users kept active for 300 s (opt-in, off by default: bench/README.md, reconnect storm).
    web, port = harness.uvicorn(
        "ws-storm", SYNC_MAX_OPENING_HANDSHAKES=str(MAX_OPENING), SYNC_ACTIVE_USER_SECONDS="300"
    )
    storm = Storm(f"ws://127.0.0.1:{port}/ws/sync/")
    storm.start()
    try:
        socks = storm.open(pairs, spread_seconds=n / OPEN_RATE)
        opened = wait_for(lambda: storm.live_count() == n, n / OPEN_RATE + BACK_WITHIN_SECONDS)
        storm_started = time.monotonic()
        storm.reconnect(socks, spread_seconds=config.storm_seconds)
        published = _publish(users, UPDATE_RATE, 2 * config.storm_seconds)
        # Seconds from the storm's start; waited for past the target so that a miss has a figure.
        back = wait_for(lambda: storm.live_count() == n, 3 * BACK_WITHIN_SECONDS)
        back = None if back is None else time.monotonic() - storm_started
        expected = sum(len(ids) for ids in published.values())

        def delivered() -> int:
            by_user = {sock.user_id: sock.received for sock in storm.socks}
            return sum(len(ids & by_user[user_id]) for user_id, ids in published.items())

        wait_for(lambda: delivered() == expected, 60)
        time.sleep(config.storm_hold_seconds)  # through a ping round (full run): nothing may close
        live, got = storm.live_count(), delivered()
    finally:
        storm.stop()
        harness.stop(web)
        harness.stop(consumer)
    result = storm.figures
    report.add(
        Figure(SCENARIO, "sockets live", "", live, n, "wanted", ("ratio>=", 1.0)),
        Figure(
            SCENARIO,
            "all live after",
            "s",
            back if back is not None else float("nan"),
            None,
            "",
            ("ours<=", BACK_WITHIN_SECONDS),
        ),
        Figure(SCENARIO, "handshakes left to time out", "", result.timed_out, None, "", ("ours<=", 0)),
        Figure(
            SCENARIO, "live sockets closed by the server", "", sum(result.closed_live.values()), None, "", ("ours<=", 0)
        ),
        Figure(SCENARIO, "updates delivered", "", got, expected, "published", ("ratio>=", 1.0)),
        Figure(SCENARIO, "refusal answered p99", "ms", percentile(result.refused_s, 99) * 1000, None, ""),
        Figure(SCENARIO, "handshake accepted p99", "ms", percentile(result.answered_s, 99) * 1000, None, ""),
    )
    report.scenarios[SCENARIO] = {
        "sockets": n,
        "opened_live_after_s": opened,
        "storm_seconds": config.storm_seconds,
        "update_rate_per_s": UPDATE_RATE,
        "handshakes_accepted": len(result.answered_s),
        "handshakes_refused_503": len(result.refused_s),
        "refused_max_ms": max(result.refused_s, default=0.0) * 1000,
        "errors": dict(result.errors),
        "live_closed_by_code": {str(code): count for code, count in result.closed_live.items()},
        "resyncs": result.resyncs,
        "pongs": result.pongs,
    }
