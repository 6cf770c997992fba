"""Retry work in place with exponential backoff until it succeeds, gives up or is stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """Asked to stop while waiting for the next attempt: the work is left undone."""


class GaveUp(Exception):
    """The work failed for good (a permanent error, or its last attempt)."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


@dataclass(frozen=True)
class Backoff:
    base: float = 0.2
    max: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.max, self.base * 2 ** (attempt - 1))


def retrying(
    work: Callable[[int], T],
    *,
    backoff: Backoff,
    stop: threading.Event,
    max_attempts: int | None,
    permanent: Callable[[Exception], bool],
    on_retry: Callable[[Exception, int, float], None],
) -> T:
    """`work(attempt)` until it returns. A failure is retried after `backoff` (`on_retry` told
    first) unless `permanent` says so or `max_attempts` (None: no limit) is reached: GaveUp.
    Stopped when `stop` is set while waiting."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return work(attempt)
        except Exception as exc:  # every failure is classified: retried or given up
            if permanent(exc) or (max_attempts is not None and attempt >= max_attempts):
                raise GaveUp(exc, attempt) from exc
            delay = backoff.delay(attempt)
            on_retry(exc, attempt, delay)
            if stop.wait(delay):
                raise Stopped from exc
