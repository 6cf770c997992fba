"""The sync consumer through Channels' WebsocketCommunicator: auth, protocol, resume, throttling.

The real channel layer (Redis pub/sub) and PostgreSQL are used; only the ASGI server is
simulated. `async_to_sync` from the test thread keeps the consumer's database calls on this
thread, inside the test's transaction.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone
from redis.asyncio import Redis

from core.internals.channels_redis import first_shard_address
from sync_app.groups import user_group
from sync_app.metrics import FRAMES_SENT, OPEN_CONNECTIONS
from sync_app.protocol import layer_update_message
from sync_app.selectors import sync_position
from sync_app.services import sync_updates_prune
from sync_app.tests.helpers import communicator, connected, receive_until, run, store_updates, token_for, unsigned_token
from sync_app.ws import gc_freeze

pytestmark = pytest.mark.django_db


# --- handshake -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["query", "subprotocol"])
def test_a_valid_token_connects_and_gets_ready(user, how):
    token = token_for(user)

    async def scenario():
        if how == "query":
            comm = communicator(f"token={token}")
        else:
            comm = communicator(subprotocols=["sync.v1", f"bearer.{token}"])
        connected, subprotocol = await comm.connect()
        try:
            assert connected
            assert subprotocol == (f"bearer.{token}" if how == "subprotocol" else None)
            ready = await comm.receive_json_from(timeout=5)
            assert ready == {"type": "ready", "cursor": "0", "replayed": 0}
        finally:
            await comm.disconnect()

    run(scenario)


def test_refused_handshakes(user):
    tokens = {
        "garbage": "not-a-token",
        "bad signature": token_for(user)[:-4] + "AAAA",
        "expired": token_for(user, ttl_seconds=-600),
        "alg none": unsigned_token(user),
    }

    async def scenario():
        outcomes = {}
        for name, token in tokens.items():
            comm = communicator(f"token={token}")
            outcomes[name] = await comm.connect()
            await comm.disconnect()
        comm = communicator()
        outcomes["no credentials"] = await comm.connect()
        await comm.disconnect()
        comm = communicator(f"token={token_for(user)}", headers=[(b"origin", b"http://evil.example")])
        outcomes["foreign origin"] = await comm.connect()
        await comm.disconnect()
        comm = communicator(f"token={token_for(user)}", headers=[])
        outcomes["no origin"] = await comm.connect()
        await comm.disconnect()
        return outcomes

    outcomes = run(scenario)
    assert {name: connected for name, (connected, _) in outcomes.items()} == dict.fromkeys(outcomes, False)


def test_an_invalid_token_is_refused_even_with_a_session(user, client):
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        with_session = communicator(headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)])
        assert (await with_session.connect())[0]
        await with_session.disconnect()
        bad_token = communicator("token=xx.yy.zz", headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)])
        assert not (await bad_token.connect())[0]
        await bad_token.disconnect()

    run(scenario)


def test_a_token_that_expires_while_connected_closes_with_4401(user):
    token = token_for(user, ttl_seconds=1)

    async def scenario():
        async with connected(f"token={token}") as comm:
            frames = await receive_until(comm, "error", timeout=5)
            assert frames[-1]["code"] == "token_expired"
            closed = await comm.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": 4401, "reason": "token expired"}

    run(scenario)


# --- client frames ---------------------------------------------------------------------------


def test_client_frames_are_validated(user):
    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            await comm.send_json_to({"type": "ping"})
            assert await comm.receive_json_from() == {"type": "pong"}
            await comm.send_json_to({"type": "pong"})
            await comm.send_json_to({"type": "subscribe", "group": "sync.user.1"})
            assert (await comm.receive_json_from())["code"] == "unknown_type"
            await comm.send_to(text_data="{not json")
            assert (await comm.receive_json_from())["code"] == "invalid_json"
            await comm.send_json_to(["ping"])
            assert (await comm.receive_json_from())["code"] == "invalid_message"
            await comm.send_to(bytes_data=b"\x00\x01")
            assert (await comm.receive_json_from())["code"] == "invalid_frame"
            await comm.send_to(text_data='{"type": "ping", "pad": "' + "x" * 5000 + '"}')
            assert (await comm.receive_json_from())["code"] == "frame_too_large"
            assert await comm.receive_nothing(timeout=0.2)

    run(scenario)


def test_a_flooding_client_is_told_then_cut_off(user, settings):
    settings.SYNC_CLIENT_BURST = 3
    settings.SYNC_CLIENT_RATE = 0.1

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            for _ in range(3):
                await comm.send_json_to({"type": "ping"})
                assert await comm.receive_json_from() == {"type": "pong"}
            await comm.send_json_to({"type": "ping"})
            assert (await comm.receive_json_from())["code"] == "rate_limited"
            for _ in range(2):  # dropped silently: the client was told
                await comm.send_json_to({"type": "ping"})
            assert await comm.receive_nothing(timeout=0.2)
            await comm.send_json_to({"type": "ping"})  # the 4th dropped in a row (over the burst of 3)
            closed = await comm.receive_output(timeout=2)
            assert closed["type"] == "websocket.close"
            assert closed["code"] == 4429

    run(scenario)


def test_the_server_pings_idle_connections(user, settings):
    settings.SYNC_PING_SECONDS = 0.2

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            assert await comm.receive_json_from(timeout=2) == {"type": "ping"}
            assert await comm.receive_json_from(timeout=2) == {"type": "ping"}

    run(scenario)


def test_a_client_that_answers_the_pings_stays_connected(user, settings):
    settings.SYNC_PING_SECONDS = 0.2
    settings.SYNC_PONG_TIMEOUT_SECONDS = 0.3

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            for _ in range(5):  # a second: more than three pong timeouts
                assert await comm.receive_json_from(timeout=2) == {"type": "ping"}
                await comm.send_json_to({"type": "pong"})
            assert await comm.receive_json_from(timeout=2) == {"type": "ping"}  # not a close

    run(scenario)


def test_a_client_that_answers_no_ping_is_closed_with_4408(user, settings):
    # The keepalive that frees a socket whose peer is gone: uvicorn's websockets-sansio sends no
    # WebSocket pings of its own.
    settings.SYNC_PING_SECONDS = 0.2
    settings.SYNC_PONG_TIMEOUT_SECONDS = 0.3

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            while (output := await comm.receive_output(timeout=3))["type"] == "websocket.send":
                assert json.loads(output["text"]) == {"type": "ping"}
            assert output == {"type": "websocket.close", "code": 4408, "reason": "no pong"}

    run(scenario)


# --- resume ---------------------------------------------------------------------------------


def test_resuming_replays_exactly_the_missed_updates_in_order(user, other_user):
    seen = store_updates(user, 3)
    store_updates(other_user, 2)
    missed = store_updates(user, 4)
    store_updates(other_user, 2)

    async def scenario():
        async with connected(f"token={token_for(user)}&cursor={seen[-1].cursor}") as comm:
            return await receive_until(comm, "ready")

    frames = run(scenario)
    assert [frame["cursor"] for frame in frames[:-1]] == [str(update.cursor) for update in missed]
    assert [frame["event_id"] for frame in frames[:-1]] == [str(update.event_id) for update in missed]
    assert frames[0]["type"] == "task.updated"
    assert frames[0]["task"] == missed[0].task
    assert frames[-1] == {"type": "ready", "cursor": str(missed[-1].cursor), "replayed": 4}


@pytest.mark.parametrize("which", ["pruned", "unknown"])
def test_a_cursor_outside_the_window_gets_resync_required(user, which):
    old = store_updates(user, 2)
    if which == "pruned":
        assert sync_updates_prune(older_than=timezone.now() + timedelta(seconds=1)) == 2
    kept = store_updates(user, 1)
    cursor = old[0].cursor if which == "pruned" else kept[0].cursor + 1000

    async def scenario():
        async with connected(f"token={token_for(user)}&cursor={cursor}") as comm:
            return await receive_until(comm, "ready")

    frames = run(scenario)
    position = str(sync_position(user_id=user.pk))
    assert frames == [
        {"type": "resync_required", "cursor": position},
        {"type": "ready", "cursor": position, "replayed": 0},
    ]


def test_a_malformed_cursor_is_an_error_and_closes(user):
    async def scenario():
        async with connected(f"token={token_for(user)}&cursor=abc") as comm:
            assert (await comm.receive_json_from())["code"] == "invalid_cursor"
            closed = await comm.receive_output()
            assert closed["code"] == 4400

    run(scenario)


# --- live -----------------------------------------------------------------------------------


def message_for(update):
    return layer_update_message(
        cursor=update.cursor,
        prev_cursor=update.prev_cursor,
        event_id=str(update.event_id),
        event_type=update.type,
        task=update.task,
    )


async def database_store(user, count):
    return await database_sync_to_async(store_updates)(user, count)


def test_a_live_update_after_a_missed_one_fills_the_gap_from_the_store(user):
    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            first, second = await database_store(user, 2)
            layer = get_channel_layer()
            await layer.group_send(user_group(user.pk), message_for(second))  # `first` was never sent
            frames = [await comm.receive_json_from(timeout=5) for _ in range(2)]
            assert [frame["cursor"] for frame in frames] == [str(first.cursor), str(second.cursor)]
            await layer.group_send(user_group(user.pk), message_for(first))  # late: already sent
            await layer.group_send(user_group(user.pk), message_for(second))  # a duplicate
            assert await comm.receive_nothing(timeout=0.3)

    run(scenario)


def test_an_update_both_replayed_and_received_live_is_sent_once(user):
    seen = store_updates(user, 1)
    missed = store_updates(user, 1)[0]

    async def scenario():
        async with connected(f"token={token_for(user)}&cursor={seen[0].cursor}") as comm:
            # Arrives while the connection is joining, replaying or live: in every case once.
            await get_channel_layer().group_send(user_group(user.pk), message_for(missed))
            frames = await receive_until(comm, "ready")
            assert [frame.get("cursor") for frame in frames] == [str(missed.cursor), str(missed.cursor)]
            assert frames[0]["type"] == "task.updated"
            assert await comm.receive_nothing(timeout=0.3)

    run(scenario)


def test_disconnecting_leaves_no_group_subscription(user):
    async def scenario():
        layer = get_channel_layer()
        group_channel = layer._get_layer()._get_group_channel_name(user_group(user.pk))
        redis = Redis.from_url(first_shard_address(layer))
        try:
            comm = communicator(f"token={token_for(user)}")
            assert (await comm.connect())[0]
            await receive_until(comm, "ready")
            assert (await redis.pubsub_numsub(group_channel))[0][1] == 1
            await comm.disconnect()
            # The layer sends UNSUBSCRIBE without waiting for Redis to confirm it.
            for _ in range(100):
                if (await redis.pubsub_numsub(group_channel))[0][1] == 0:
                    break
                await asyncio.sleep(0.02)
            assert (await redis.pubsub_numsub(group_channel))[0][1] == 0
        finally:
            await redis.aclose()

    run(scenario)


def test_a_disconnect_makes_no_thread_hop_to_close_database_connections(user):
    async def scenario():
        with mock.patch("channels.generic.websocket.aclose_old_connections") as hop:
            comm = communicator(f"token={token_for(user)}")
            assert (await comm.connect())[0]
            await receive_until(comm, "ready")
            await comm.disconnect()
        assert not hop.called

    run(scenario)


def test_another_users_updates_never_arrive(user, other_user):
    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            (update,) = await database_store(other_user, 1)
            await get_channel_layer().group_send(user_group(other_user.pk), message_for(update))
            assert await comm.receive_nothing(timeout=0.3)

    run(scenario)


def test_open_connections_and_frames_sent_are_measured(user):
    def frames(frame_type: str) -> float:
        return FRAMES_SENT.labels(frame_type)._value.get()

    async def scenario():
        open_before, ready_before, pongs_before = OPEN_CONNECTIONS._value.get(), frames("ready"), frames("pong")
        held_before = gc_freeze.open_sockets()  # what the garbage collection tuning counts
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            await comm.send_json_to({"type": "ping"})
            await receive_until(comm, "pong")
            assert OPEN_CONNECTIONS._value.get() == open_before + 1
            assert gc_freeze.open_sockets() == held_before + 1
            assert (frames("ready"), frames("pong")) == (ready_before + 1, pongs_before + 1)
        assert OPEN_CONNECTIONS._value.get() == open_before
        assert gc_freeze.open_sockets() == held_before

    run(scenario)


def test_a_connection_whose_layer_subscription_is_lost_is_closed_so_the_client_resumes(user, settings, monkeypatch):
    """A Redis restart drops pub/sub subscriptions silently; the process's heartbeat notices and
    the socket closes."""
    from sync_app import layer_watch

    settings.SYNC_PING_SECONDS = 0.3
    settings.SYNC_LAYER_CHECK_SECONDS = 0.3
    monkeypatch.setattr(layer_watch, "HEARTBEAT_TIMEOUT_SECONDS", 1.0)

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            for _ in range(4):  # 1.2 s: heartbeats come back, the socket stays
                assert await comm.receive_json_from(timeout=2) == {"type": "ping"}
            for shard in get_channel_layer()._get_layer()._shards:
                if shard._pubsub is not None:
                    await shard._pubsub.unsubscribe()  # what a Redis restart does to the layer
            outputs = []
            for _ in range(30):  # pings every 0.3 s; the close must come within the 1 s timeout
                outputs.append(await comm.receive_output(timeout=5))
                if outputs[-1]["type"] == "websocket.close":
                    break
            assert outputs[-1] == {"type": "websocket.close", "code": 1011, "reason": "sync unavailable"}

    run(scenario)


def test_a_sockets_own_channel_makes_no_redis_subscription(user):
    async def scenario():
        layer = get_channel_layer()
        redis = Redis.from_url(first_shard_address(layer))
        try:
            comm = communicator(f"token={token_for(user)}")
            assert (await comm.connect())[0]
            await receive_until(comm, "ready")
            own = [name for name in layer._get_layer().channels if ".watch." not in name]
            assert own
            assert [count for _, count in await redis.pubsub_numsub(*own)] == [0] * len(own)
            await comm.disconnect()
        finally:
            await redis.aclose()

    run(scenario)
