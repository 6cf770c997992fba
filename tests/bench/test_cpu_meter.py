"""bench.cpu: CPU seconds per role from /proc, a process's own work and its threads'."""

from __future__ import annotations

import os
import threading
import time

from bench.cpu import CpuMeter


def _spin(seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


def test_the_meter_counts_the_work_of_every_thread_of_a_role_and_nothing_of_an_idle_one() -> None:
    meter = CpuMeter({"me": lambda: [os.getpid()], "nobody": lambda: []}, interval=0.05)
    meter.start()
    worker = threading.Thread(target=_spin, args=(0.2,))
    worker.start()
    _spin(0.2)
    worker.join()
    cpu = meter.stop()
    assert 0.35 <= cpu["me"] <= 0.8  # two threads of 0.2 s each, plus the meter's own samples
    assert cpu["nobody"] == 0.0
