"""Short garbage-collection pauses in the web processes.

CPython's full (generation 2) collection walks every container object the process holds. A web
worker holding thousands of WebSockets has about a million of them (200 per idle socket, plus
Django's own), and a full collection then stalls every socket for 0.7-3.9 s (measured: bench
scenario 5, the delivery p99 tail). Reference counting frees almost everything; only reference
cycles need the collector. So:

- `freeze_startup_objects()`: everything created while the app was imported (Django, DRF, the URL
  and model registries) lives as long as the process: moved out of the collector's reach once.
- `FreezeLongLived`: in a socket-holding process, every few seconds the objects that survived so
  far are frozen too (`gc.freeze()` is O(1)). Cyclic garbage frozen with them is not lost for
  good: once the frozen set has grown by a quarter since the last full collection (the same
  rule CPython uses for its own full collections), it is unfrozen and collected once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

FREEZE_EVERY_SECONDS = 5.0
# Collect the frozen objects again once they grew by this fraction (and by at least MIN_GROWTH).
GROWTH_BEFORE_COLLECTING = 0.25
MIN_GROWTH = 50_000


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()


class FreezeLongLived:
    """One per process; `step()` every FREEZE_EVERY_SECONDS (see `ensure_running`)."""

    def __init__(self, collector: ModuleType | Any = gc) -> None:
        self.gc = collector
        self.after_last_collection = collector.get_freeze_count()

    def step(self) -> bool:
        """Freeze what survived so far; returns True when it ran a full collection first."""
        grown = self.gc.get_freeze_count() - self.after_last_collection
        if grown > max(MIN_GROWTH, GROWTH_BEFORE_COLLECTING * self.after_last_collection):
            self.gc.unfreeze()
            self.gc.collect()
            self.gc.freeze()
            self.after_last_collection = self.gc.get_freeze_count()
            return True
        self.gc.freeze()
        return False


_running: asyncio.Task[None] | None = None


def ensure_running() -> None:
    """Start the freezing loop in this process's event loop, once (called by each new socket)."""
    global _running
    loop = asyncio.get_running_loop()
    if _running is not None and _running.get_loop() is loop and not _running.done():
        return
    _running = loop.create_task(_loop(FreezeLongLived()), name="gc-freeze")


async def _loop(freezer: FreezeLongLived) -> None:
    while True:
        await asyncio.sleep(FREEZE_EVERY_SECONDS)
        if freezer.step():
            logger.info("collected the frozen objects", extra={"frozen": freezer.after_last_collection})
