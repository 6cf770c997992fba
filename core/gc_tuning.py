"""Shorter garbage-collection pauses for long-running processes.

Reference counting frees almost everything; only reference cycles need the collector, and a full
collection walks every container object the process holds. So:

- `freeze_startup_objects()`: what importing the app created (Django, DRF, the URL and model
  registries) lives as long as the process, so it is moved out of the collector's reach once.
- `tune_bulk_loop()`: a process that moves records in bulk (the relay, the Kafka consumers)
  allocates a few container objects per record, so it also collects its young generation less
  often: CPython's default (every 700 allocations) spends a large share of its CPU there, and a
  young collection still walks only what was allocated since the last one.

The web processes' policy for the objects their WebSockets hold is sync_app's
(`sync_app/ws/gc_freeze.py`).
"""

from __future__ import annotations

import gc

# Allocations (net of frees) between young collections in a bulk loop (CPython's default: 700).
BULK_YOUNG_THRESHOLD = 50_000


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()


def tune_bulk_loop() -> None:
    freeze_startup_objects()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(BULK_YOUNG_THRESHOLD, middle, oldest)
