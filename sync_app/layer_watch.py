"""One channel-layer heartbeat per process, for all of its sync sockets.

The layer can stop delivering without telling anyone: a Redis restart ends channels_redis'
pub/sub receive task for good (tests/faults/test_service_restarts.py), and every socket of the
process would stay open and silent. What fails is the process's Redis connection, not one
socket's subscription, so one heartbeat, sent through the layer to a channel of the process's
own every `SYNC_LAYER_CHECK_SECONDS`, checks it for all of them. When a heartbeat does not come
back within `HEARTBEAT_TIMEOUT_SECONDS`, each socket is told (`layer_lost`) and closes with 1011, so
its client resumes with its cursor; nothing is lost, every update is in the store.

Sent per socket with each ping instead, heartbeats were 400 layer round trips a second at 10,000
sockets, as many as the pings themselves (bench/README.md, fourth and fifth rounds).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import Any, Protocol

from django.conf import settings

from sync_app import protocol

logger = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT_SECONDS = 10.0

# One watch per event loop and channel layer: the pub/sub layer keeps its Redis connections per
# loop, and an event loop is what a server process (or a test) runs its sockets on.
_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, LayerWatch]] = weakref.WeakKeyDictionary()


def layer_watch(layer: Any) -> LayerWatch:
    """The watch of `layer` on the running event loop."""
    per_layer = _watches.setdefault(asyncio.get_running_loop(), {})
    watch = per_layer.get(layer)
    if watch is None:
        watch = per_layer[layer] = LayerWatch(layer)
    return watch


class Watcher(Protocol):
    def layer_lost(self) -> None:
        """The layer did not deliver a heartbeat: close (without blocking the watch)."""


class LayerWatch:
    """Checks a channel layer while sockets need it; its task ends when the last one leaves."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.watchers: set[Watcher] = set()
        self.channel: str | None = None
        self.task: asyncio.Task[None] | None = None

    def add(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    def discard(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(settings.SYNC_LAYER_CHECK_SECONDS)
                if not self.watchers:
                    return  # the next socket starts the task again
                if not await self.heartbeat_comes_back():
                    self.lost()
        finally:
            self.task = None

    async def heartbeat_comes_back(self) -> bool:
        nonce = uuid.uuid4().hex
        try:
            if self.channel is None:
                self.channel = await self.layer.new_channel("sync.watch.")
            await self.layer.send(self.channel, {"type": protocol.LAYER_HEARTBEAT, "nonce": nonce})
        except Exception:  # noqa: BLE001 - any layer failure means the same: resume elsewhere
            logger.warning("sync layer heartbeat could not be sent", exc_info=True)
            return False
        # The wait starts once it is sent (a busy layer can be slow to take it); a heartbeat of an
        # earlier check that came back late is skipped.
        try:
            async with asyncio.timeout(HEARTBEAT_TIMEOUT_SECONDS):
                while (await self.layer.receive(self.channel)).get("nonce") != nonce:
                    pass
        except TimeoutError:
            # Cancelled, the layer's receive unsubscribed the channel: the next check makes a new
            # one (subscribed before anything is sent to it).
            self.channel = None
            logger.error("sync layer heartbeat not received in %.0f s", HEARTBEAT_TIMEOUT_SECONDS)
            return False
        return True

    def lost(self) -> None:
        watchers, self.watchers = self.watchers, set()
        for watcher in watchers:
            watcher.layer_lost()
