"""Sending stored updates to the channel layer from synchronous code (the Kafka consumer).

The channels-redis pub/sub layer keeps its Redis connections per event loop. `async_to_sync`
from a plain thread would build a new loop, and so a new connection, for every update; one
long-lived loop in a daemon thread keeps a single connection for the whole process instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer

from sync_app.groups import user_group
from sync_app.metrics import BROADCASTS
from sync_app.protocol import layer_update_message

if TYPE_CHECKING:
    from sync_app.models import SyncUpdate

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5.0

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="sync-broadcast", daemon=True).start()
            _loop = loop
        return _loop


def broadcast_updates(updates: Sequence[SyncUpdate]) -> None:
    """Send each of `updates` to its user's group: one user's updates one after another, in the
    given (cursor) order, different users' concurrently. Never raises: the updates are
    already stored, so a client that misses a send gets it from the store (gap fill on its next
    update, or resume)."""
    layer = get_channel_layer()
    if layer is None or not updates:
        return
    chains: dict[int, list[SyncUpdate]] = {}
    for update in updates:
        chains.setdefault(update.user_id, []).append(update)

    async def send_chain(chain: list[SyncUpdate]) -> tuple[int, int]:
        sent = 0
        for update in chain:
            try:
                await layer.group_send(user_group(update.user_id), _message(update))
            except Exception:
                logger.exception("sync update %s not sent to the channel layer", update.cursor)
                return sent, len(chain) - sent
            sent += 1
        return sent, 0

    async def send_all() -> list[tuple[int, int]]:
        return await asyncio.gather(*(send_chain(chain) for chain in chains.values()))

    future = asyncio.run_coroutine_threadsafe(send_all(), _background_loop())
    try:
        outcomes = future.result(timeout=SEND_TIMEOUT_SECONDS + len(chains) * 0.01)
    except Exception:
        future.cancel()
        BROADCASTS.labels("failed").inc(len(updates))
        logger.exception("%d sync updates not sent to the channel layer", len(updates))
        return
    BROADCASTS.labels("sent").inc(sum(sent for sent, _ in outcomes))
    failed = sum(failed for _, failed in outcomes)
    if failed:
        BROADCASTS.labels("failed").inc(failed)


def _message(update: SyncUpdate) -> dict[str, Any]:
    return layer_update_message(
        cursor=update.cursor,
        prev_cursor=update.prev_cursor,
        event_id=str(update.event_id),
        event_type=update.type,
        task=update.task,
    )
