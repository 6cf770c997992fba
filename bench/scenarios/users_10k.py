"""10. "10k users": N users (full 10,000), each with an open authenticated `/ws/sync/` socket,
while the chatbot acts for them over REST at an aggregate rate that steps up (issue 24).

Mix: list/search 50 %, create 20 % (every fourth recurring, every other with a reminder, due in a
week), update 15 %, complete 10 %, delete 5 % (`bench.userload`). Every process runs as deployed:
web (uvicorn, `users_web_workers` replicas sharing the port), the relay and the Celery worker of
the run, Celery beat, the four consumers (audit, recurrence, notifications, sync) in groups of
their own that start at the topics' ends, the run's broker; PostgreSQL, Redis and RabbitMQ. The
broker is Apache Kafka, as deployed, when this scenario runs alone (`python -m bench` picks it;
`--broker tansu` or a run of several scenarios gives Tansu): the report names it.

Steps: probe steps of `users_probe_seconds` from `users_start_rate`, each `users_step_factor`
faster, until one fails; the highest passing rate is then held for `users_hold_seconds` (one
step lower if that fails): that rate is the sustained one. A step passes with REST p99 ≤ 250 ms,
write → frame p99 ≤ 1 s, consumer lag ≤ 2 s (the oldest unconsumed record's age, sampled), no
error, no lost or misdelivered frame, no socket closed. Baseline, same run, same clients and
sockets, stepped the same way: `GET /api/v1/me/`, the cheapest authenticated view.

Also: the CPU of every process per action over the sustained step (`bench.cpu`), its CPU with
the sockets open and no action (idle), and what 1,000
and 10,000 actions/s would need on paper (`bench.capacity`), the load clients' own CPU, resident
memory per process at N sockets and the web's memory per socket (RSS growth / sockets, as
scenario 5 measures it).
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from django.utils import timezone

from bench import capacity
from bench.config import Config
from bench.cpu import CpuMeter, pids_named, with_descendants
from bench.harness import PYTHON, Child, Harness, rss_kib, wait_until
from bench.kafka import start_group_at_end
from bench.scenarios.common import make_users, token_for
from bench.stats import Figure, Report, percentile
from bench.userload import WORDS
from kafka_bridge.lag import group_lag
from kafka_bridge.registry import consumers
from tasks_app.models import Task

SCENARIO = "10 10k users"
CONSUMERS = ("audit", "recurrence", "notifications", "sync")
REST_P99_MS = 250.0
FRAME_P99_MS = 1000.0
LAG_SECONDS = 2.0
TARGET_RATE = 167.0  # 10,000 users, one action each a minute
TARGET_RATIO = 0.5
# The system's processes (what the capacity table sizes), as opposed to the bench's own.
CLIENTS = "load clients"
BENCH = "bench process (lag probe, meter)"


@dataclass
class Step:
    mode: str
    rate: float
    seconds: float
    results: list[dict[str, Any]]
    cpu: dict[str, float]
    cpu_window_seconds: float
    machine_busy_cores: float  # every process of the machine, ours or not (a shared machine)
    lag_seconds: float
    rest_ms: list[float] = field(init=False)
    frame_ms: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.rest_ms = [v for r in self.results for v in r["rest_ms"]]
        self.frame_ms = [v for r in self.results for v in r["write_frame_ms"]]

    def total(self, key: str) -> int:
        return sum(r[key] for r in self.results)

    @property
    def completed(self) -> int:
        return self.total("completed")

    @property
    def errors(self) -> int:
        return self.total("scheduled") - self.completed + self.total("sockets_closed")

    @property
    def failures(self) -> list[str]:
        """Why the step did not pass (empty: it passed)."""
        why = []
        if percentile(self.rest_ms, 99) > REST_P99_MS or not self.rest_ms:
            why.append(f"REST p99 {percentile(self.rest_ms, 99):.0f} ms")
        if self.mode == "mix" and (percentile(self.frame_ms, 99) > FRAME_P99_MS or not self.frame_ms):
            why.append(f"frame p99 {percentile(self.frame_ms, 99):.0f} ms")
        if self.lag_seconds > LAG_SECONDS:
            why.append(f"lag {self.lag_seconds:.1f} s")
        for key, label in (("lost", "lost"), ("misdelivered", "misdelivered"), ("sockets_closed", "sockets closed")):
            if self.total(key):
                why.append(f"{self.total(key)} {label}")
        if self.completed < self.total("scheduled"):
            why.append(f"{self.total('scheduled') - self.completed} errors")
        return why

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, list[float]] = {}
        for result in self.results:
            for kind, values in result["rest_ms_by_kind"].items():
                by_kind.setdefault(kind, []).extend(values)
        return {
            "mode": self.mode,
            "rate": round(self.rate, 1),
            "seconds": self.seconds,
            "passed": not self.failures,
            "failures": self.failures,
            "completed": self.completed,
            "achieved_per_s": self.completed / max(r["window_seconds"] for r in self.results),
            "rest_p50_ms": percentile(self.rest_ms, 50),
            "rest_p99_ms": percentile(self.rest_ms, 99),
            "rest_p99_ms_by_kind": {kind: percentile(values, 99) for kind, values in by_kind.items()},
            "write_frame_p50_ms": percentile(self.frame_ms, 50),
            "write_frame_p99_ms": percentile(self.frame_ms, 99),
            "writes": self.total("writes"),
            "lost": self.total("lost"),
            "lost_frames": [key for r in self.results for key in r.get("lost_frames", [])][:20],
            "misdelivered": self.total("misdelivered"),
            "duplicates": self.total("duplicates"),
            "sockets_closed": self.total("sockets_closed"),
            "max_lag_seconds": self.lag_seconds,
            "statuses": _merge([r["statuses"] for r in self.results]),
            "kinds": _merge([r["kinds"] for r in self.results]),
            "errors": [e for r in self.results for e in r["errors"]][:10],
            "cpu_seconds": {role: round(seconds, 3) for role, seconds in self.cpu.items()},
            "our_processes_cores": sum(self.cpu.values()) / self.cpu_window_seconds,
            "machine_busy_cores": self.machine_busy_cores,
        }


def _merge(counters: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for counter in counters:
        for key, count in counter.items():
            merged[key] = merged.get(key, 0) + count
    return merged


class LagProbe:
    """The highest consumer lag (seconds behind, `kafka_bridge.lag`) seen across the groups
    while a step runs, sampled one group after another."""

    def __init__(self, groups: dict[str, tuple[str, ...]]) -> None:
        self.groups = groups
        self.worst = 0.0
        self.failed = 0  # samples that could not be read (a timeout): the step fails on them
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.worst, self.failed = 0.0, 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lag-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for group, topics in self.groups.items():
                try:
                    lags = group_lag(group, list(topics))
                except Exception:  # noqa: BLE001 - counted: an unknown lag is not a passing one
                    self.failed += 1
                    continue
                self.worst = max([self.worst, *(p.seconds_behind for p in lags)])
            self._stop.wait(0.5)

    def stop(self) -> float:
        """The worst lag seen; infinity when a sample could not be read."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return math.inf if self.failed else self.worst


class Clients:
    """The load-client processes (`bench.userload`) and their step files."""

    def __init__(self, harness: Harness, port: int, shares: list[list[list[Any]]]) -> None:
        self.harness = harness
        self.dirs: list[Path] = []
        self.children: list[Child] = []
        self.step_index = 0
        for i, share in enumerate(shares):
            directory = harness.log_dir / f"users-10k-client-{i}"
            directory.mkdir(exist_ok=True)
            (directory / "users.json").write_text(json.dumps(share))
            argv = [PYTHON, "-m", "bench.userload", "--port", str(port), "--users", str(directory / "users.json")]
            self.children.append(harness.start(f"users-10k-client-{i}", [*argv, "--dir", str(directory)]))
            self.dirs.append(directory)

    def pids(self) -> list[int]:
        return [pid for child in self.children for pid in with_descendants(child.pid)]

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        files = [directory / "ready.json" for directory in self.dirs]

        def ready() -> bool:
            for child in self.children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited; see {child.log_path}")
            return all(f.exists() for f in files)

        wait_until(ready, timeout, "the load clients' sockets", 0.5)
        documents = [json.loads(f.read_text()) for f in files]
        return {
            "connected": sum(d["connected"] for d in documents),
            "failed": [e for d in documents for e in d["failed"]][:10],
            "seconds": max(d["seconds"] for d in documents),
        }

    def step(self, mode: str, rate: float, seconds: float, grace: float) -> list[dict[str, Any]]:
        k, self.step_index = self.step_index, self.step_index + 1
        command = {"mode": mode, "rate": rate / len(self.dirs), "seconds": seconds, "grace": grace}
        command["start_at"] = time.time() + 0.5
        for directory in self.dirs:
            (directory / f"step-{k}.tmp").write_text(json.dumps(command))
            (directory / f"step-{k}.tmp").rename(directory / f"step-{k}.json")
        files = [directory / f"result-{k}.json" for directory in self.dirs]
        wait_until(lambda: all(f.exists() for f in files), seconds + grace + 120, f"step {k} results", 0.1)
        return [json.loads(f.read_text()) for f in files]

    def stop(self) -> None:
        for directory in self.dirs:
            (directory / "stop").touch()
        self.harness.stop_together(self.children)


def backend_pids(harness: Harness) -> Any:
    """The pids of this run's PostgreSQL backends (its database only: other runs share the server)."""
    params = {k: v for k, v in harness.db_params.items() if v is not None}
    connection = psycopg.connect(dbname=harness.db_name, autocommit=True, **params)

    def pids() -> list[int]:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [harness.db_name]
        ).fetchall()
        return [row[0] for row in rows]

    return pids, connection


def _seed(config: Config) -> list[list[Any]]:
    """Users with tokens and a few open tasks each: [[user id, token, [task ids]], ...]."""
    users = make_users("bench-10k", config.users_count)
    due = timezone.now() + timedelta(days=7)
    tasks = Task.objects.bulk_create(
        [
            Task(owner=user, title=f"{random.choice(WORDS)} {random.choice(WORDS)} u{user.pk}", due_at=due)
            for user in users
            for _ in range(config.users_tasks_each)
        ],
        batch_size=5000,
    )
    by_owner: dict[int, list[str]] = {}
    for task in tasks:
        by_owner.setdefault(task.owner_id, []).append(str(task.id))
    return [[user.pk, token_for(user, ttl_seconds=4 * 3600), by_owner[user.pk]] for user in users]


def _climb(run_step: Any, config: Config, mode: str) -> tuple[float, list[Step], Step | None]:
    """Probe steps up until one fails, then hold the highest passing rate (one step lower if
    that fails): (sustained rate or 0, every step, the held step that passed or the last held).
    A warm-up step at the first rate goes first and is not judged: the web processes' first
    requests (their pooled database connections, first-request imports) are not the steady state."""
    steps, passed, rate = [], None, config.users_start_rate
    run_step(mode, rate, config.users_probe_seconds, warm_up=True)
    for _ in range(config.users_probe_steps):
        step = run_step(mode, rate, config.users_probe_seconds)
        steps.append(step)
        if step.failures:
            break
        passed, rate = rate, rate * config.users_step_factor
    held = None
    for candidate in [passed, passed / config.users_step_factor] if passed else []:
        held = run_step(mode, candidate, config.users_hold_seconds)
        steps.append(held)
        if not held.failures:
            return candidate, steps, held
    return 0.0, steps, held


def run(harness: Harness, config: Config, report: Report) -> None:
    pairs = _seed(config)
    definitions = consumers()
    groups = {name: f"{name}-10k" for name in CONSUMERS}
    for name, group in groups.items():
        start_group_at_end(group, definitions[name].topics)
    members = {name: harness.consumer(name, wait=False, suffix="-10k", group=groups[name]) for name in CONSUMERS}
    for member in members.values():
        member.wait_for_log("partitions assigned", 90)
    beat = harness.celery_beat()
    web, port = harness.uvicorn("web-10k", workers=config.users_web_workers)
    time.sleep(1.0)
    web_pids = harness.server_pids(web)
    rss_before = sum(rss_kib(pid) for pid in web_pids)
    shares = [pairs[i :: config.users_client_processes] for i in range(config.users_client_processes)]
    clients = Clients(harness, port, shares)
    postgres_pids, pg = backend_pids(harness)
    try:
        ready = clients.wait_ready(120 + len(pairs) / 50)
        time.sleep(2.0)  # as scenario 5: buffers released, timers armed
        rss_after = sum(rss_kib(pid) for pid in web_pids)
        by_name = {child.name: child for child in harness.children}
        roles = {
            "web": lambda: with_descendants(web.pid),
            "relay": lambda: [by_name["relay"].pid],
            "worker": lambda: [c.pid for c in harness.children if c.name.startswith("celery-worker")],
            "beat": lambda: [beat.pid],
            **{f"consumer {name}": (lambda m=member: [m.pid]) for name, member in members.items()},
            "PostgreSQL": postgres_pids,
            harness.broker_role: lambda: with_descendants(harness.broker.process.pid),
            "RabbitMQ": lambda: pids_named("beam.smp"),
            "Redis": lambda: pids_named("redis-server"),
            CLIENTS: clients.pids,
            BENCH: lambda: [os.getpid()],
        }
        meter = CpuMeter(roles)
        probe = LagProbe({groups[name]: definitions[name].topics for name in CONSUMERS})

        def run_step(mode: str, rate: float, seconds: float, warm_up: bool = False) -> Step:
            meter.start()
            probe.start()
            results = clients.step(mode, rate, seconds, config.users_grace_seconds)
            cpu = meter.stop()
            step = Step(mode, rate, seconds, results, cpu, meter.seconds, meter.machine_busy_cores, probe.stop())
            outcome = "warm-up" if warm_up else step.failures or "passed"
            print(f"\n    {mode} {rate:.0f}/s for {seconds:g} s: {outcome}", end="", flush=True)
            return step

        meter.start()
        time.sleep(config.users_idle_seconds)
        idle = meter.stop()
        idle_cores = {role: seconds / meter.seconds for role, seconds in idle.items()}
        baseline_rate, baseline_steps, baseline_held = _climb(run_step, config, "me")
        ours_rate, ours_steps, held = _climb(run_step, config, "mix")
        memory = {role: sum(rss_kib(pid) for pid in pids()) for role, pids in roles.items() if role != BENCH}
    finally:
        clients.stop()
        # Each consumer is its group's only member, so they may stop at the same time.
        harness.stop_together([web, beat, *members.values()])
        pg.close()

    measured = held or ours_steps[-1]
    actions = max(1, measured.completed)
    cpu_ms = {role: seconds * 1000 / actions for role, seconds in measured.cpu.items()}
    system = {role: ms for role, ms in cpu_ms.items() if role not in (CLIENTS, BENCH)}
    plan = capacity.plan(system, idle_cores=idle_cores)
    per_socket_kb = (rss_after - rss_before) * 1.024 / max(1, ready["connected"])
    client_cores = measured.cpu[CLIENTS] / measured.cpu_window_seconds
    _report(report, ours_rate, baseline_rate, measured, per_socket_kb, cpu_ms, client_cores, harness.broker_name)
    report.scenarios[SCENARIO] = {
        "broker": harness.broker_name,
        "users": len(pairs),
        "sockets_connected": ready["connected"],
        "connect_seconds": ready["seconds"],
        "connect_failures": ready["failed"],
        "web_workers": config.users_web_workers,
        "client_processes": config.users_client_processes,
        "sustained_per_s": ours_rate,
        "baseline_sustained_per_s": baseline_rate,
        "baseline_step_held": baseline_held.summary() if baseline_held else None,
        "steps": [step.summary() for step in baseline_steps + ours_steps],
        "cpu_ms_per_action": {role: round(ms, 3) for role, ms in cpu_ms.items()},
        "idle_cores": {role: round(cores, 3) for role, cores in idle_cores.items()},
        "cpu_measured_over": {"mode": measured.mode, "rate": measured.rate, "actions": measured.completed},
        "capacity_usable_core_fraction": capacity.USABLE_CORE_FRACTION,
        "capacity": [
            {"role": row.role, "cores": row.cores, "replicas": row.replicas, "scales_by": row.scales_by} for row in plan
        ],
        "load_client_cores": client_cores,
        "rss_kib": memory,
        "web_rss_kib_before_sockets": rss_before,
        "web_rss_kib_with_sockets": rss_after,
    }
    print(
        f"\n\n  10k users on {harness.broker_name}: CPU per action at {measured.rate:.0f} actions/s"
        f" ({measured.completed} actions)"
    )
    print(capacity.table(plan))
    print(f"  load clients: {cpu_ms[CLIENTS]:.2f} ms per action ({client_cores:.2f} cores)")
    print("  resident memory (MiB): " + ", ".join(f"{role} {kib / 1024:.0f}" for role, kib in memory.items()))


def _report(
    report: Report,
    ours: float,
    baseline: float,
    measured: Step,
    per_socket_kb: float,
    cpu_ms: dict[str, float],
    client_cores: float,
    broker: str,
) -> None:
    label = "GET /me/, same clients"
    on = f"on {broker}"
    report.add(
        Figure(SCENARIO, "sustained actions/s", "/s", ours, baseline, label, ("ratio>=", TARGET_RATIO), on),
        Figure(SCENARIO, "sustained actions/s, absolute", "/s", ours, None, "", ("ours>=", TARGET_RATE)),
        Figure(
            SCENARIO,
            "REST p99",
            "ms",
            percentile(measured.rest_ms, 99),
            None,
            "",
            ("ours<=", REST_P99_MS),
            f"at {measured.rate:.0f}/s",
        ),
        Figure(
            SCENARIO,
            "REST write → WebSocket frame p99",
            "ms",
            percentile(measured.frame_ms, 99),
            None,
            "",
            ("ours<=", FRAME_P99_MS),
        ),
        Figure(SCENARIO, "consumer lag, worst sampled", "s", measured.lag_seconds, None, "", ("ours<=", LAG_SECONDS)),
        Figure(
            SCENARIO, "errors (non-2xx, failed requests, closed sockets)", "", measured.errors, None, "", ("ours<=", 0)
        ),
        Figure(SCENARIO, "frames lost", "", measured.total("lost"), None, "", ("ours<=", 0)),
        Figure(SCENARIO, "frames to the wrong user", "", measured.total("misdelivered"), None, "", ("ours<=", 0)),
        Figure(SCENARIO, "web memory per socket", "KB", per_socket_kb, None, "", ("ours<=", 50)),
        Figure(SCENARIO, "load clients' CPU", "cores", client_cores, None, ""),
        Figure(
            SCENARIO,
            "CPU per action, all processes",
            "ms",
            sum(ms for role, ms in cpu_ms.items() if role not in (CLIENTS, BENCH)),
            None,
            "",
            None,
            on,
        ),
    )
    for role, ms in cpu_ms.items():
        if role not in (CLIENTS, BENCH) and not math.isnan(ms):
            report.add(Figure(SCENARIO, f"CPU per action: {role}", "ms", ms, None, ""))
