"""Sending stored updates to the owners' channel-layer groups (`sync_app.broadcast`)."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from sync_app.broadcast import broadcast_updates
from sync_app.groups import user_group
from sync_app.metrics import BROADCASTS
from sync_app.tests.helpers import run, store_updates

pytestmark = pytest.mark.django_db


def test_a_batch_reaches_each_owners_group_in_cursor_order_without_a_group_send_per_update(
    user, other_user, monkeypatch
):
    alices, bobs = store_updates(user, 3), store_updates(other_user, 2)
    batch = [alices[0], bobs[0], alices[1], bobs[1], alices[2]]  # as a batch interleaves them
    layer = get_channel_layer()

    async def one_round_trip_per_update(group, message):
        raise AssertionError("a batch is published as one pipeline, not one group_send per update")

    monkeypatch.setattr(layer, "group_send", one_round_trip_per_update, raising=False)
    sent_before = BROADCASTS.labels("sent")._value.get()

    async def scenario():
        alice, bob = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(user_group(user.pk), alice)
        await layer.group_add(user_group(other_user.pk), bob)
        await asyncio.sleep(0.2)  # the pub/sub layer does not wait for Redis to confirm a SUBSCRIBE
        try:
            await asyncio.to_thread(broadcast_updates, batch)
            received = {
                name: [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]
                for name, channel, count in (("alice", alice, 3), ("bob", bob, 2))
            }
        finally:
            await layer.group_discard(user_group(user.pk), alice)
            await layer.group_discard(user_group(other_user.pk), bob)
        return received

    received = run(scenario)
    assert [m["cursor"] for m in received["alice"]] == [u.cursor for u in alices]
    assert [m["cursor"] for m in received["bob"]] == [u.cursor for u in bobs]
    assert [m["prev_cursor"] for m in received["alice"]] == [u.prev_cursor for u in alices]
    assert received["alice"][0]["task"] == alices[0].task
    assert {m["type"] for m in received["alice"] + received["bob"]} == {"sync.update"}
    assert BROADCASTS.labels("sent")._value.get() - sent_before == 5


def test_an_unreachable_layer_counts_the_batch_as_failed_and_does_not_raise(user, settings):
    updates = store_updates(user, 2)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": settings.CHANNEL_LAYERS["default"]["BACKEND"],
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"], "prefix": "unreachable"},
        }
    }
    failed_before = BROADCASTS.labels("failed")._value.get()
    broadcast_updates(updates)  # logged, not raised: the updates are in the store
    assert BROADCASTS.labels("failed")._value.get() - failed_before == 2
