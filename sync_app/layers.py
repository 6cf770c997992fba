"""The channel layer of the sync sockets: channels_redis' pub/sub layer with a lighter inbox.

The pub/sub layer keeps one `asyncio.Queue` per consumer channel, i.e. per open socket. An
`asyncio.Queue` is four deques (items, getters, putters, and its `finished` event's waiters),
about 3 KB even when empty, and the deques allocate their blocks eagerly. An idle sync socket
never has a message waiting, and one reader at most, so `Inbox` holds a list that exists only
while messages wait and a list of waiting readers that exists only while one waits.

A sync socket's own channel receives group messages only (`new_group_only_channel`): no Redis
subscription of its own, so a handshake and a close each take one turn fewer of the shard's lock,
behind which every group join and send of the process waits.

Everything else (Redis connections, subscriptions, groups, serialization) is channels_redis'
own; the seams are in `core.internals.channels_redis`, which checks the pinned version, and
`sync_app/tests/test_layers.py` checks them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from core.internals.channels_redis import PubSubChannelLayerWithInbox


class Inbox:
    """The subset of `asyncio.Queue` the pub/sub layer uses: `put_nowait` and `get`, FIFO,
    readers served in the order they started waiting."""

    __slots__ = ("_items", "_readers")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._readers: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = []
        self._items.append(item)
        self._wake_one()

    async def get(self) -> Any:
        while not self._items:
            reader = asyncio.get_running_loop().create_future()
            if self._readers is None:
                self._readers = []
            self._readers.append(reader)
            try:
                await reader
            except BaseException:
                # Woken and then cancelled: the item we were woken for goes to the next reader.
                if reader.done() and not reader.cancelled() and self._items:
                    self._wake_one()
                raise
            finally:
                self._forget(reader)
        item = self._items.pop(0)
        if not self._items:
            self._items = None
        return item

    def _wake_one(self) -> None:
        for reader in self._readers or ():
            if not reader.done():
                reader.set_result(None)
                return

    def _forget(self, reader: asyncio.Future[None]) -> None:
        if self._readers is not None:
            if reader in self._readers:
                self._readers.remove(reader)
            if not self._readers:
                self._readers = None


class SyncPubSubChannelLayer(PubSubChannelLayerWithInbox):
    """`RedisPubSubChannelLayer` whose per-loop layer keeps an `Inbox` per channel."""

    inbox_factory = Inbox
