"""Capacity on paper: from the CPU each process spends per user action, the cores and replicas
each role would need at a given rate of actions (scenario 10; bench/README.md has the table).

A replica is given `USABLE_CORE_FRACTION` of a core: the rest is headroom for bursts, garbage
collections and the latency targets (a process kept at 100 % queues). Roles that cannot be
spread over replicas say so: the relay publishes from one leader, beat must run exactly once
(past one process's usable share, the table says so); PostgreSQL, the broker, RabbitMQ and Redis
are sized in cores of their servers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

USABLE_CORE_FRACTION = 0.7
RATES = (1_000, 10_000)
# How each role grows; anything not listed scales by replicas. A role is looked up by its name
# before any parenthesis: "broker (Apache Kafka)" and "broker (Tansu)" are both "broker".
SINGLE_PROCESS = {"relay": "one leader (replicas are standbys)", "beat": "exactly one"}
SERVERS = {
    "PostgreSQL": "cores of the database server",
    "broker": "cores of the brokers",
    "RabbitMQ": "cores of the server",
    "Redis": "cores of the server",
}


def _kind(role: str) -> str:
    return role.split(" (", 1)[0]


@dataclass(frozen=True)
class Row:
    role: str
    cpu_ms_per_action: float
    cores: dict[int, float]  # rate → cores busy at that rate
    replicas: dict[int, int]  # rate → replicas (or cores, rounded up) at the usable fraction
    scales_by: str
    idle_cores: float | None = None  # the same processes with the sockets open and no action


def plan(
    cpu_ms_per_action: dict[str, float],
    rates: tuple[int, ...] = RATES,
    idle_cores: dict[str, float] | None = None,
) -> list[Row]:
    """Cores at each rate = rate * CPU per action: the fixed part (idle polling, pings) is
    counted as if it grew with the rate, which errs on the safe side."""
    rows = []
    for role, ms in cpu_ms_per_action.items():
        cores = {rate: rate * ms / 1000 for rate in rates}
        replicas = {rate: max(1, math.ceil(busy / USABLE_CORE_FRACTION)) for rate, busy in cores.items()}
        scales_by = SINGLE_PROCESS.get(_kind(role)) or SERVERS.get(_kind(role)) or "replicas"
        rows.append(Row(role, ms, cores, replicas, scales_by, (idle_cores or {}).get(role)))
    return rows


def _replicas(row: Row, rate: int) -> str:
    if _kind(row.role) in SINGLE_PROCESS:
        return "1" if row.replicas[rate] == 1 else "**1: more than one process can do**"
    if _kind(row.role) in SERVERS:
        return f"{row.replicas[rate]} cores"
    return str(row.replicas[rate])


def table(rows: list[Row]) -> str:
    """Markdown: one line per role, then the total."""
    rates = sorted(rows[0].cores) if rows else list(RATES)
    head = "| process | CPU ms per action | idle cores | " + " | ".join(
        f"cores at {rate:,}/s | replicas at {rate:,}/s" for rate in rates
    )
    lines = [head + " | scales by |", "|---|---:|---:|" + "---:|---:|" * len(rates) + "---|"]
    for row in rows:
        cells = " | ".join(f"{row.cores[rate]:.1f} | {_replicas(row, rate)}" for rate in rates)
        idle = "—" if row.idle_cores is None else f"{row.idle_cores:.2f}"
        lines.append(f"| {row.role} | {row.cpu_ms_per_action:.2f} | {idle} | {cells} | {row.scales_by} |")
    total_ms = sum(row.cpu_ms_per_action for row in rows)
    idle_total = sum(row.idle_cores or 0.0 for row in rows)
    totals = " | ".join(f"{sum(row.cores[rate] for row in rows):.1f} | " for rate in rates)
    lines.append(f"| **all** | {total_ms:.2f} | {idle_total:.2f} | {totals} |")
    lines.append(
        f"\nReplicas: cores / {USABLE_CORE_FRACTION} (the usable fraction of a core assumed per replica), "
        "rounded up; for the servers, the same figure in cores. Idle cores: the same processes with "
        "every socket open and no action (pings, polls), a part that does not grow with the rate."
    )
    return "\n".join(lines)
