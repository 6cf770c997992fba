"""The sync channel layer: channels_redis' pub/sub layer with a small per-channel `Inbox`."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest
from channels.layers import get_channel_layer
from redis.asyncio import Redis

from core.internals.channels_redis import first_shard_address
from sync_app.layers import Inbox, SyncPubSubChannelLayer
from sync_app.tests.helpers import run


def test_an_inbox_hands_out_items_in_order():
    async def scenario():
        inbox = Inbox()
        for item in ("a", "b", "c"):
            inbox.put_nowait(item)
        assert inbox.qsize() == 3
        assert [await inbox.get() for _ in range(3)] == ["a", "b", "c"]
        assert inbox.empty()

    asyncio.run(scenario())


def test_an_inbox_wakes_its_readers_in_the_order_they_waited():
    async def scenario():
        inbox = Inbox()
        first = asyncio.ensure_future(inbox.get())
        second = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(1)
        inbox.put_nowait(2)
        assert await asyncio.wait_for(asyncio.gather(first, second), 1) == [1, 2]

    asyncio.run(scenario())


def test_a_reader_cancelled_after_being_woken_passes_the_item_on():
    async def scenario():
        inbox = Inbox()
        first = asyncio.ensure_future(inbox.get())
        second = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait("item")  # wakes `first`...
        first.cancel()  # ...which is cancelled before it runs
        assert await asyncio.wait_for(second, 1) == "item"
        assert first.cancelled()

    asyncio.run(scenario())


def test_an_empty_inbox_is_a_small_fraction_of_an_asyncio_queue():
    def size(obj) -> int:
        return sys.getsizeof(obj) + sum(sys.getsizeof(value) for value in getattr(obj, "__dict__", {}).values())

    async def scenario():
        queue = asyncio.Queue()
        queue_size = size(queue) + size(queue._finished)
        assert sys.getsizeof(Inbox()) * 10 < queue_size

    asyncio.run(scenario())


def test_the_configured_layer_keeps_an_inbox_per_channel_and_delivers_through_redis():
    async def scenario():
        layer = get_channel_layer()
        assert isinstance(layer, SyncPubSubChannelLayer)
        channel = await layer.new_channel()
        assert isinstance(layer._get_layer().channels[channel], Inbox)
        await layer.group_add("layer-test", channel)
        try:
            await layer.send(channel, {"type": "direct", "n": 1})
            await layer.group_send("layer-test", {"type": "group", "n": 2})
            received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]
            assert [(m["type"], m["n"]) for m in received] == [("direct", 1), ("group", 2)]
        finally:
            await layer.group_discard("layer-test", channel)

    run(scenario)


async def cancel_a_receive(layer, channel: str) -> None:
    """Start a receive on `channel`, let it wait, cancel it (its consumer leaving)."""
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving


def test_a_cancelled_receive_drops_the_channel():
    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await cancel_a_receive(layer, channel)
        assert channel not in layer._get_layer().channels

    run(scenario)


def test_a_group_only_channel_gets_group_messages_without_a_redis_subscription_of_its_own():
    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_group_only_channel()
        redis = Redis.from_url(first_shard_address(layer))
        await layer.group_add("group-only-test", channel)
        try:
            assert (await redis.pubsub_numsub(channel))[0][1] == 0
            for n in range(3):  # the group's subscription may not be live for the first one
                await layer.group_send("group-only-test", {"type": "group", "n": n})
                with contextlib.suppress(TimeoutError):
                    message = await asyncio.wait_for(layer.receive(channel), 2)
                    break
            assert message["type"] == "group"
            await cancel_a_receive(layer, channel)
            assert channel not in layer._get_layer().channels
        finally:
            await layer.group_discard("group-only-test", channel)
            await redis.aclose()

    run(scenario)
