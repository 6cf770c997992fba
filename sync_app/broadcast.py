"""Sending stored updates to the channel layer from synchronous code (the Kafka consumer).

The channels-redis pub/sub layer keeps its Redis connections per event loop. `async_to_sync`
from a plain thread would build a new loop, and so a new connection, for every update; one
long-lived loop in a daemon thread keeps a single connection for the whole process instead.

On the pub/sub layer a batch goes out as one pipeline of PUBLISHes per Redis shard
(`core.internals.channels_redis.publish_pipelined`): the layer serializes its sends (one lock per
shard), so one `group_send` per update would cost a round trip each, one after another. Each
user's updates still reach the group in cursor order. Other layers get one `group_send` per
update.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer

from core.internals import channels_redis
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
    """Send each of `updates` to its user's group, each user's in the given (cursor) order. Never
    raises: the updates are already stored, so a client that misses a send gets it from the
    store (gap fill on its next update, or resume)."""
    layer = get_channel_layer()
    if layer is None or not updates:
        return
    if channels_redis.can_publish_pipelined(layer):
        send_all = _publish_pipelined(layer, updates)
    else:
        send_all = _group_send_chains(layer, updates)
    future = asyncio.run_coroutine_threadsafe(send_all, _background_loop())
    try:
        sent, failed = future.result(timeout=SEND_TIMEOUT_SECONDS + len(updates) * 0.01)
    except Exception:
        future.cancel()
        BROADCASTS.labels("failed").inc(len(updates))
        logger.exception("%d sync updates not sent to the channel layer", len(updates))
        return
    BROADCASTS.labels("sent").inc(sent)
    if failed:
        BROADCASTS.labels("failed").inc(failed)


async def _publish_pipelined(layer: Any, updates: Sequence[SyncUpdate]) -> tuple[int, int]:
    """Publish every update to its user's group: one pipeline per shard, in the given order.
    Returns (sent, failed). (`sync_app/tests/test_broadcast.py` checks that group members
    receive them, in order.)"""
    outcomes = await channels_redis.publish_pipelined(
        layer, ((user_group(update.user_id), _message(update)) for update in updates)
    )
    sent = failed = 0
    for count, error in outcomes:
        if error is None:
            sent += count
            continue
        logger.error("%d sync updates not sent to the channel layer", count, exc_info=error)
        failed += count
    return sent, failed


async def _group_send_chains(layer: Any, updates: Sequence[SyncUpdate]) -> tuple[int, int]:
    """One `group_send` per update: one user's updates one after another, in the given order,
    different users' concurrently. Returns (sent, failed)."""
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

    outcomes = await asyncio.gather(*(send_chain(chain) for chain in chains.values()))
    return sum(sent for sent, _ in outcomes), sum(failed for _, failed in outcomes)


def _message(update: SyncUpdate) -> dict[str, Any]:
    return layer_update_message(
        cursor=update.cursor,
        prev_cursor=update.prev_cursor,
        event_id=str(update.event_id),
        event_type=update.type,
        task=update.task,
    )
