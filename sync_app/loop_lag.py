"""How late this process's event loop runs: one probe per event loop while sync sockets use it.

Under overload (a reconnect storm) the loop falls behind: frames that clients sent sit unread
in socket buffers, and timers fire late. The keepalive must not take that for a silent client,
and new handshakes must not be taken on while it lasts (`admission.py`). The probe sleeps
PROBE_SECONDS at a time and records how much later than asked it woke up.
"""

from __future__ import annotations

import asyncio
import math
import weakref

from django.conf import settings

PROBE_SECONDS = 0.1


class LoopLag:
    __slots__ = ("holders", "lag", "late_at", "task")

    def __init__(self) -> None:
        self.lag = 0.0  # the last probe's lateness, in seconds
        self.late_at = -math.inf  # loop time of the last probe later than SYNC_MAX_LOOP_LAG_SECONDS
        self.holders = 0
        self.task: asyncio.Task[None] | None = None

    def late_since(self, moment: float) -> bool:
        """Whether the loop was late at some point after `moment` (loop time), now included."""
        return self.late_at >= moment or self.lag > settings.SYNC_MAX_LOOP_LAG_SECONDS

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + PROBE_SECONDS
            await asyncio.sleep(PROBE_SECONDS)
            now = loop.time()
            self.lag = now - asked
            if self.lag > settings.SYNC_MAX_LOOP_LAG_SECONDS:
                self.late_at = now


_probes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag] = weakref.WeakKeyDictionary()


def current() -> LoopLag:
    """The running loop's probe (idle, reporting no lag, while nothing holds it)."""
    return _probes.setdefault(asyncio.get_running_loop(), LoopLag())


def hold() -> None:
    """A socket needs the probe: it runs while anything holds it."""
    probe = current()
    probe.holders += 1
    if probe.task is None:
        probe.task = asyncio.get_running_loop().create_task(probe.run())


def release() -> None:
    probe = current()
    probe.holders -= 1
    if probe.holders <= 0 and probe.task is not None:
        probe.holders = 0
        probe.task.cancel()
        probe.task = None
        probe.lag, probe.late_at = 0.0, -math.inf
