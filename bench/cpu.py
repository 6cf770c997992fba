"""CPU seconds per role of the system over a window, from `/proc/<pid>/stat` (utime + stime of
every thread, plus cutime + cstime of reaped children), a role's descendants included.

A role is a name and a function giving its pids now (a child process, the run's PostgreSQL
backends, every `beam.smp`). `CpuMeter` samples them every `interval` in a thread: a pid first
seen after the window began counts from zero if it started after the window began, so
short-lived processes (a PostgreSQL backend opened for one job) count unless they start and end
between two samples; a pid that ends keeps its last sample.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import child_pids

TICKS = os.sysconf("SC_CLK_TCK")
Pids = Callable[[], list[int]]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": comm may hold spaces


def cpu_ticks(pid: int) -> tuple[int, int] | None:
    """(utime + stime + cutime + cstime, start time) in clock ticks since boot; None if gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    # Fields 14-17 and 22 of proc(5), counted from the state (field 3) here.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)), int(fields[19])


def with_descendants(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += child_pids(current)
    return pids


def pids_named(comm: str) -> list[int]:
    """Every process whose command name is `comm` (RabbitMQ's `beam.smp`, `redis-server`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot (`/proc/stat`): what every process of
    the machine used, ours or not, against what there was."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def _uptime_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * TICKS


class CpuMeter:
    """CPU seconds of each role between `start()` and `stop()`."""

    def __init__(self, roles: dict[str, Pids], interval: float = 0.5) -> None:
        self.roles = roles
        self.interval = interval
        self.first: dict[tuple[str, int], int] = {}
        self.last: dict[tuple[str, int], int] = {}
        self.began = 0.0
        self.seconds = 0.0
        self.machine_busy_cores = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _sample(self) -> None:
        for role, pids in self.roles.items():
            try:
                current = pids()
            except Exception:  # noqa: BLE001 - a role whose pids cannot be listed now is sampled next time
                current = []
            for pid in current:
                reading = cpu_ticks(pid)
                if reading is None:
                    continue
                ticks, started = reading
                with self._lock:
                    self.first.setdefault((role, pid), 0 if started > self.began else ticks)
                    self.last[(role, pid)] = ticks

    def start(self) -> None:
        self.first.clear()
        self.last.clear()
        self._stop.clear()
        self.began = _uptime_ticks()
        self._started = time.monotonic()
        self._machine = machine_busy_ticks()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds per role over the window."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.seconds = time.monotonic() - self._started
        busy, every = (now - then for now, then in zip(machine_busy_ticks(), self._machine, strict=True))
        # Cores the whole machine kept busy over the window, whoever used them.
        self.machine_busy_cores = busy / max(1, every) * (os.cpu_count() or 1)
        totals = dict.fromkeys(self.roles, 0.0)
        with self._lock:
            for (role, pid), ticks in self.last.items():
                totals[role] += (ticks - self.first[(role, pid)]) / TICKS
        return totals
