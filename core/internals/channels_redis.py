"""The private channels-redis internals this project uses, in one place, for 4.3.0 only.

Three seams of the pub/sub layer: the per-channel inbox (`_get_layer`, `_subscribe_to_channel`,
`_wrap_close`), channels that receive group messages only (the loop layer's `channels`, `prefix`
and its `receive`), and publishing many group messages in one pipeline per shard (`_get_shard`,
`_get_group_channel_name`, and a shard's `_lock`, `_ensure_redis` and `_redis`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

from core.internals.versions import require_version

PINNED = "4.3.0"


def check_version() -> None:
    """Refuse to run on a channels-redis other than the one these internals were written for."""
    require_version("channels-redis", PINNED)


class _InboxLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_only: set[str] = set()

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = self.channel_layer.inbox_factory()
        shard = self._get_shard(channel)
        await shard.subscribe(channel)

    def new_group_only_channel(self, prefix: str) -> str:
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = self.channel_layer.inbox_factory()
        self.group_only.add(channel)
        return channel

    async def receive(self, channel: str) -> Any:
        if channel not in self.group_only:
            return await super().receive(channel)
        inbox = self.channels.get(channel)
        if inbox is None:  # flushed
            inbox = self.channels[channel] = self.channel_layer.inbox_factory()
        try:
            message = await inbox.get()
        except (asyncio.CancelledError, TimeoutError, GeneratorExit):
            # As channels_redis' own: a cancelled receive is its consumer leaving.
            self.channels.pop(channel, None)
            self.group_only.discard(channel)
            raise
        return self.channel_layer.deserialize(message)


class PubSubChannelLayerWithInbox(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` whose per-loop layer keeps an `inbox_factory()` per channel
    instead of an `asyncio.Queue`: anything with `put_nowait`, `get`, `qsize` and `empty`."""

    inbox_factory: Callable[[], Any] = asyncio.Queue

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = _InboxLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer

    async def new_group_only_channel(self, prefix: str = "specific.") -> str:
        """A channel of this process that receives group messages only: unlike `new_channel`,
        no Redis SUBSCRIBE of its own, nor the UNSUBSCRIBE when its reader is cancelled (each a
        turn of the shard's lock, which every group join and send of the process waits
        behind). A message `send` to it directly is lost."""
        return self._get_layer().new_group_only_channel(prefix)


def first_shard_address(layer: Any) -> str:
    """The Redis address of the pub/sub layer's first shard, for a client of one's own (tests
    inspecting its subscriptions)."""
    return layer._get_layer()._shards[0].host["address"]


def can_publish_pipelined(layer: Any) -> bool:
    """Whether `publish_pipelined` works with `layer` (channels-redis' pub/sub layer)."""
    return isinstance(layer, RedisPubSubChannelLayer)


async def publish_pipelined(
    layer: RedisPubSubChannelLayer, messages: Iterable[tuple[str, dict[str, Any]]]
) -> list[tuple[int, BaseException | None]]:
    """Send each `(group, message)` as `layer.group_send` would, but as one pipeline of PUBLISHes
    per Redis shard, in the given order, under the shard's own lock (the layer serializes sends
    per shard, so a `group_send` per message costs a round trip each, one after another).

    One group always maps to the same shard and a pipeline runs in order on one connection, so
    each group's messages arrive in the given order. Returns, per shard, how many messages it
    was given and the exception that stopped them (None: all sent). Runs on the running loop's
    connections."""
    loop_layer = layer._get_layer()
    by_shard: dict[Any, list[tuple[str, bytes]]] = {}
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        shard = loop_layer._get_shard(channel)
        by_shard.setdefault(shard, []).append((channel, layer.serialize(message)))
    outcomes: list[tuple[int, BaseException | None]] = []
    for shard, shard_messages in by_shard.items():
        try:
            async with shard._lock:
                shard._ensure_redis()
                pipeline = shard._redis.pipeline(transaction=False)
                for channel, data in shard_messages:
                    pipeline.publish(channel, data)
                await pipeline.execute()
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who decides
            outcomes.append((len(shard_messages), exc))
            continue
        outcomes.append((len(shard_messages), None))
    return outcomes
