"""A token bucket for client frames: bursts are fine, a sustained flood is not."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; each frame takes one."""

    # One per connection that has sent a frame: slots keep it at a fifth of a dict-backed object.
    __slots__ = ("_clock", "_tokens", "_updated", "capacity", "rate")

    def __init__(self, *, rate: float, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be positive and capacity at least 1")
        self.rate = rate
        self.capacity = float(capacity)
        self._clock = clock
        self._tokens = float(capacity)
        self._updated = clock()

    def take(self) -> bool:
        """Take one token if there is one; False means the frame is over the limit."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
