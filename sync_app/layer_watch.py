"""One channel-layer heartbeat per process, for all of its sync sockets.

The layer can stop delivering without telling anyone: a Redis restart ends channels_redis'
pub/sub receive task for good (tests/faults/test_service_restarts.py), and every socket of the
process would stay open and silent. What fails is the process's Redis connection, not one
socket's subscription, so one heartbeat, sent through the layer to a channel of the process's
own every `SYNC_LAYER_CHECK_SECONDS`, checks it for all of them. When a heartbeat does not come
back within `HEARTBEAT_TIMEOUT_SECONDS`, each socket is told (`layer_lost`) and closes with 1011, so
its client resumes with its cursor; nothing is lost, every update is in the store.

One per process, not one per socket with its ping: per-socket heartbeats would cost as many
layer round trips as the pings themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Any, Protocol

from django.conf import settings

from sync_app import loop_lag, protocol

logger = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT_SECONDS = 10.0

# One watch per event loop and channel layer while sockets use them: the pub/sub layer keeps its
# Redis connections per loop, and an event loop is what a server process (or a test) runs its
# sockets on.
_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, LayerWatch]] = weakref.WeakKeyDictionary()


def watch(layer: Any, watcher: Watcher) -> None:
    """Tell `watcher` (`layer_lost()`) if `layer` stops delivering, until `unwatch`."""
    per_layer = _watches.setdefault(asyncio.get_running_loop(), {})
    if layer not in per_layer:
        per_layer[layer] = LayerWatch(layer)
    per_layer[layer].add(watcher)


def unwatch(layer: Any, watcher: Watcher) -> None:
    current = current_watch(layer)
    if current is not None:
        current.discard(watcher)


def current_watch(layer: Any) -> LayerWatch | None:
    """The watch of `layer` on the running event loop, while it has watchers."""
    return _watches.get(asyncio.get_running_loop(), {}).get(layer)


class Watcher(Protocol):
    def layer_lost(self) -> None:
        """The layer did not deliver a heartbeat: close (without blocking the watch)."""


class LayerWatch:
    """Checks a channel layer while sockets need it; it ends when the last one leaves.

    A reader task takes the heartbeats off the watch's channel, so a check that times out
    cancels no `receive` (which would unsubscribe the channel)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.watchers: set[Watcher] = set()
        self.task: asyncio.Task[None] | None = None
        self.channel: str | None = None
        self.reader: asyncio.Task[None] | None = None
        self.expected = ""
        self.back = asyncio.Event()

    def add(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    def discard(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        if not self.watchers and self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(settings.SYNC_LAYER_CHECK_SECONDS)
                if not self.watchers:
                    return  # all were told the layer was lost
                sent_at = asyncio.get_running_loop().time()
                if not await self.heartbeat_comes_back():
                    self.stop_reading()  # a new channel and reader for the next check
                    if loop_lag.current().late_since(sent_at):
                        # Our own loop was too late to read it: overload, not a lost layer.
                        logger.warning("sync layer heartbeat late while this process lagged; checking again")
                        continue
                    self.lost()
        finally:
            self.stop_reading()
            self.task = None
            per_layer = _watches.get(asyncio.get_running_loop(), {})
            if per_layer.get(self.layer) is self:
                del per_layer[self.layer]  # the next socket starts a new watch

    async def heartbeat_comes_back(self) -> bool:
        """Send a heartbeat and wait for it, sent once more after half the timeout: the pub/sub
        layer does not wait for Redis to confirm a new channel's subscription, so the first one
        to a new channel can be lost. The timeout covers the sends too (a dead connection can
        hold them)."""
        self.expected = uuid.uuid4().hex
        self.back.clear()
        message = {"type": protocol.LAYER_HEARTBEAT, "nonce": self.expected}
        try:
            async with asyncio.timeout(HEARTBEAT_TIMEOUT_SECONDS):
                if self.channel is None:
                    self.channel = await self.layer.new_channel("sync.watch.")
                    self.reader = asyncio.get_running_loop().create_task(self.read(self.channel))
                for wait in (HEARTBEAT_TIMEOUT_SECONDS / 2, None):
                    await self.layer.send(self.channel, message)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self.back.wait()
                            return True
        except TimeoutError:
            logger.error("sync layer heartbeat not received in %.0f s", HEARTBEAT_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - any layer failure means the same: resume elsewhere
            logger.warning("sync layer heartbeat could not be sent", exc_info=True)
        return False

    async def read(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            if message.get("nonce") == self.expected:
                self.back.set()

    def stop_reading(self) -> None:
        # Not awaited: the cancelled `receive` unsubscribes the channel, which a dead connection
        # could hold up.
        if self.reader is not None:
            self.reader.cancel()
        self.reader = self.channel = None

    def lost(self) -> None:
        watchers, self.watchers = self.watchers, set()
        logger.error("sync channel layer lost; closing its %d sockets so their clients resume", len(watchers))
        for watcher in watchers:
            watcher.layer_lost()
