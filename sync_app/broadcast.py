"""Sending stored updates to the channel layer from synchronous code (the Kafka consumer).

The channels-redis pub/sub layer keeps its Redis connections per event loop. `async_to_sync`
from a plain thread would build a new loop, and so a new connection, for every update; one
long-lived loop in a daemon thread keeps a single connection for the whole process instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

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


def broadcast_update(update: SyncUpdate) -> None:
    """Send `update` to its user's group. Never raises: the update is already stored, so a client
    that misses this send gets it from the store (gap fill on the next update, or resume)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = layer_update_message(
        cursor=update.cursor,
        prev_cursor=update.prev_cursor,
        event_id=str(update.event_id),
        event_type=update.type,
        task=update.task,
    )
    future = asyncio.run_coroutine_threadsafe(layer.group_send(user_group(update.user_id), message), _background_loop())
    try:
        future.result(timeout=SEND_TIMEOUT_SECONDS)
    except Exception:
        future.cancel()
        BROADCASTS.labels("failed").inc()
        logger.exception("sync update %s not sent to the channel layer", update.cursor)
        return
    BROADCASTS.labels("sent").inc()
