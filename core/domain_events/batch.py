"""The batching scope a service opens so that all events of one change are written together.

The writer (kafka_bridge's outbox) registers its flush function on first use with `batched`;
services only open `outbox_batch()`, so neither knows the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Flush = Callable[[list[Any]], Any]

# The pending items of the outermost `outbox_batch()` in progress in this thread or task, per
# flush function, in first-use order; None outside any batch.
_batch: ContextVar[dict[Flush, list[Any]] | None] = ContextVar("outbox_batch", default=None)


@contextmanager
def outbox_batch() -> Iterator[None]:
    """Inside the caller's transaction: the events recorded within are written when the block
    ends, in one write per writer (in recording order, so in the order the relay publishes
    them), instead of one write each. For passes that emit many events (reminder dispatch) and
    for each task change (its event and its reminders'). Nothing is written if the block
    raises. Nested blocks join the outermost."""
    if _batch.get() is not None:
        yield
        return
    pending: dict[Flush, list[Any]] = {}
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    for flush, items in pending.items():
        if items:
            flush(items)


def batched(flush: Flush) -> list[Any] | None:
    """The list to append items to in the `outbox_batch()` in progress, which calls
    `flush(items)` once at its end; None outside any batch (the caller writes at once)."""
    pending = _batch.get()
    if pending is None:
        return None
    return pending.setdefault(flush, [])
