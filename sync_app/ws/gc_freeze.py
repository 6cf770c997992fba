"""Short full-collection pauses in a process that holds WebSockets: freeze what lives long.

A worker holding thousands of sockets holds about a million container objects (about 200 per
idle socket, plus Django's own), and CPython's full (generation 2) collection walks them all,
stalling every socket for seconds. Reference counting frees almost everything; only reference
cycles need the collector. So, in a socket-holding process, every FREEZE_EVERY_SECONDS the
objects that survived so far are frozen too (`gc.freeze()` is O(1)). Cyclic garbage frozen with
them is not lost for good: once the frozen set holds a quarter more than its live sockets explain
(sockets that closed, or other objects that piled up), it is unfrozen and collected once.

Growth is measured against the open sockets because a worker filling up with new, live sockets
grows its frozen set too, and collecting then would stall every socket for nothing (long enough,
at a few thousand sockets, to outlast the server's health check). Counting the frozen set walks
it (O(n)), so it is counted every CHECK_EVERY freezes only.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

FREEZE_EVERY_SECONDS = 5.0
# Count the frozen set (and decide whether to collect it) every this many freezes.
CHECK_EVERY = 6
# Collect the frozen objects once those unexplained by the live sockets reach this fraction of
# the explained ones (and at least MIN_GROWTH).
GROWTH_BEFORE_COLLECTING = 0.25
MIN_GROWTH = 50_000
# Frozen objects per open socket until a collection with enough sockets open measures it (150-200
# per idle sync socket).
OBJECTS_PER_SOCKET = 200
MIN_SOCKETS_TO_MEASURE = 100

_open_sockets = 0


def open_sockets() -> int:
    return _open_sockets


class FreezeLongLived:
    """One per process; `step()` every FREEZE_EVERY_SECONDS (see `socket_opened`)."""

    def __init__(self, collector: ModuleType | Any = gc, sockets: Callable[[], int] = open_sockets) -> None:
        self.gc = collector
        self.sockets = sockets
        self.startup = collector.get_freeze_count()
        self.per_socket: float = OBJECTS_PER_SOCKET
        self._collected(self.startup, sockets())
        self.steps = 0

    def _collected(self, frozen: int, sockets: int) -> None:
        self.after_last_collection = frozen
        self.sockets_then = sockets
        if sockets >= MIN_SOCKETS_TO_MEASURE:
            self.per_socket = max(1.0, (frozen - self.startup) / sockets)

    def step(self) -> bool:
        """Freeze what survived so far; returns True when it ran a full collection first."""
        self.steps += 1
        if self.steps % CHECK_EVERY == 0:
            sockets = self.sockets()
            explained = max(self.startup, self.after_last_collection + self.per_socket * (sockets - self.sockets_then))
            unexplained = self.gc.get_freeze_count() - explained
            if unexplained > max(MIN_GROWTH, GROWTH_BEFORE_COLLECTING * explained):
                self.gc.unfreeze()
                self.gc.collect()
                self.gc.freeze()
                self._collected(self.gc.get_freeze_count(), sockets)
                return True
        self.gc.freeze()
        return False


_running: asyncio.Task[None] | None = None


def socket_opened() -> None:
    """Count a socket this process now holds, and start the freezing loop in its event loop
    (once per loop)."""
    global _running, _open_sockets
    _open_sockets += 1
    loop = asyncio.get_running_loop()
    if _running is not None and _running.get_loop() is loop and not _running.done():
        return
    _running = loop.create_task(_loop(FreezeLongLived()), name="gc-freeze")


def socket_closed() -> None:
    global _open_sockets
    _open_sockets -= 1


async def _loop(freezer: FreezeLongLived) -> None:
    while True:
        await asyncio.sleep(FREEZE_EVERY_SECONDS)
        started = time.perf_counter()
        if freezer.step():
            logger.info(
                "collected the frozen objects",
                extra={"frozen": freezer.after_last_collection, "seconds": round(time.perf_counter() - started, 3)},
            )
