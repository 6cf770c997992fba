"""The sync consumer's lean machinery: one helper task and one timer per connection, and what
rides on them (pings, barrier resends, token expiry) still happening, and the process's one
channel-layer heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from channels.layers import get_channel_layer

from sync_app import layer_watch, protocol
from sync_app.groups import user_group
from sync_app.tests.helpers import communicator, connected, receive_until, run, token_for
from sync_app.ws import replay

pytestmark = pytest.mark.django_db


def test_an_idle_connection_runs_one_task_besides_its_own(user):
    """Channels' dispatch loop would run two (one per message source) plus an `asyncio.wait`."""

    async def scenario():
        warm = communicator(f"token={token_for(user)}")  # starts the layer's own reader task
        assert (await warm.connect())[0]
        await receive_until(warm, "ready")
        before = len(asyncio.all_tasks())
        comms = [communicator(f"token={token_for(user)}") for _ in range(3)]
        try:
            for comm in comms:
                assert (await comm.connect())[0]
                await receive_until(comm, "ready")
            await asyncio.sleep(0.05)
            # Each connection: the application's task (the server's) and the layer reader.
            assert len(asyncio.all_tasks()) - before == 2 * len(comms)
        finally:
            for comm in [*comms, warm]:
                await comm.disconnect()

    run(scenario)


def test_pings_continue_until_the_token_expires_then_it_closes(user, settings):
    settings.SYNC_PING_SECONDS = 0.3
    token = token_for(user, ttl_seconds=2)

    async def scenario():
        async with connected(f"token={token}") as comm:
            frames = await receive_until(comm, "error", timeout=5)
            assert frames[0]["type"] == "ready"
            assert [frame["type"] for frame in frames[1:-1]].count("ping") >= 2
            assert frames[-1]["code"] == "token_expired"
            closed = await comm.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": 4401, "reason": "token expired"}

    run(scenario)


def lose_barriers(monkeypatch, at_most: int | None = None) -> list[dict]:
    """Make the channel layer lose barrier messages (all, or the first `at_most`); returns the
    list of those lost."""
    layer = get_channel_layer()
    real_group_send = layer.group_send
    lost: list[dict] = []

    async def group_send(group, message):
        if message["type"] == protocol.LAYER_BARRIER and (at_most is None or len(lost) < at_most):
            lost.append(message)
            return
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", group_send, raising=False)
    return lost


def test_a_barrier_sent_before_the_subscription_was_live_is_sent_again(user, monkeypatch):
    """The pub/sub layer does not wait for Redis to confirm a subscription; a group send right
    after joining can be lost. The consumer resends its barrier rather than give up."""
    monkeypatch.setattr(replay, "BARRIER_TIMEOUT_SECONDS", 0.4)
    dropped = lose_barriers(monkeypatch, at_most=1)

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            assert (await receive_until(comm, "ready", timeout=3))[-1]["type"] == "ready"
            assert len(dropped) == 1

    run(scenario)


def test_a_barrier_that_never_comes_back_closes_after_the_timeout(user, monkeypatch):
    monkeypatch.setattr(replay, "BARRIER_TIMEOUT_SECONDS", 0.6)
    sent = lose_barriers(monkeypatch)

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            closed = await comm.receive_output(timeout=3)
            assert closed == {"type": "websocket.close", "code": 1011, "reason": "sync unavailable"}
            assert len(sent) == 2  # sent, resent once (at 0.3 s), then given up (at 0.6 s)

    run(scenario)


def test_an_error_in_a_channel_layer_handler_ends_the_connection(user):
    """As under Channels' own dispatch loop: the error is raised from the application."""

    async def scenario():
        comm = communicator(f"token={token_for(user)}")
        assert (await comm.connect())[0]
        await receive_until(comm, "ready")
        await get_channel_layer().group_send(user_group(user.pk), {"type": protocol.LAYER_UPDATE})  # no cursor
        with pytest.raises(KeyError):
            await comm.receive_output(timeout=3)

    run(scenario)


def test_a_heartbeat_back_before_its_send_returned_counts(user, settings, monkeypatch):
    """The layer can hand the heartbeat back before `send` returns (a busy process); that must
    not be taken for a lost subscription."""
    settings.SYNC_PING_SECONDS = 0.2
    settings.SYNC_LAYER_CHECK_SECONDS = 0.2
    monkeypatch.setattr(layer_watch, "HEARTBEAT_TIMEOUT_SECONDS", 0.5)
    layer = get_channel_layer()
    real_send = layer.send

    async def slow_to_return(channel, message):
        await real_send(channel, message)
        await asyncio.sleep(0.3)  # the heartbeat comes back meanwhile

    monkeypatch.setattr(layer, "send", slow_to_return, raising=False)

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            for _ in range(8):  # 1.6 s: several heartbeat timeouts' worth
                assert await comm.receive_json_from(timeout=2) == {"type": "ping"}

    run(scenario)


def lose_heartbeats(monkeypatch, when: Callable[[int], bool]) -> list[dict]:
    """Record the heartbeats sent through the channel layer, and lose the n-th (from 1) when
    `when(n)`; returns the list of all sent."""
    layer = get_channel_layer()
    real_send = layer.send
    sent: list[dict] = []

    async def send(channel, message):
        if message["type"] == protocol.LAYER_HEARTBEAT:
            sent.append(message)
            if when(len(sent)):
                return
        await real_send(channel, message)

    monkeypatch.setattr(layer, "send", send, raising=False)
    return sent


def test_a_first_heartbeat_lost_to_a_new_subscription_is_sent_again(user, settings, monkeypatch):
    """The pub/sub layer does not wait for Redis to confirm the watch's new channel; a heartbeat
    lost that way is sent once more before the layer is given up."""
    settings.SYNC_PING_SECONDS = 0.2
    settings.SYNC_LAYER_CHECK_SECONDS = 0.2
    monkeypatch.setattr(layer_watch, "HEARTBEAT_TIMEOUT_SECONDS", 0.6)
    heartbeats = lose_heartbeats(monkeypatch, when=lambda n: n == 1)

    async def scenario():
        async with connected(f"token={token_for(user)}") as comm:
            await receive_until(comm, "ready")
            for _ in range(8):  # 1.6 s: the first check's timeout and more
                assert await comm.receive_json_from(timeout=2) == {"type": "ping"}
            assert heartbeats[0] == heartbeats[1]  # the same heartbeat, sent again

    run(scenario)


def test_one_heartbeat_per_process_checks_the_layer_for_all_its_sockets(user, settings, monkeypatch):
    """Heartbeats do not grow with the sockets; when one is lost, every socket closes with 1011;
    the watch's task ends with the last socket."""
    settings.SYNC_PING_SECONDS = 0.2
    settings.SYNC_LAYER_CHECK_SECONDS = 0.2
    monkeypatch.setattr(layer_watch, "HEARTBEAT_TIMEOUT_SECONDS", 0.5)
    layer = get_channel_layer()
    losing = False
    heartbeats = lose_heartbeats(monkeypatch, when=lambda _: losing)

    async def scenario():
        nonlocal losing
        comms = [communicator(f"token={token_for(user)}") for _ in range(4)]
        for comm in comms:
            assert (await comm.connect())[0]
            await receive_until(comm, "ready")
        watch = layer_watch.current_watch(layer)
        started = asyncio.get_running_loop().time()
        await asyncio.sleep(1.0)
        checks = (asyncio.get_running_loop().time() - started) / 0.2
        assert 2 <= len(heartbeats) <= checks + 1  # per socket, it would be four times as many

        losing = True
        for comm in comms:  # pings may come first
            while (frame := await comm.receive_output(timeout=3))["type"] != "websocket.close":
                pass
            assert frame == {"type": "websocket.close", "code": 1011, "reason": "sync unavailable"}
        for comm in comms:
            await comm.disconnect()
        await asyncio.sleep(0.05)
        assert watch.task is None  # ended with the last socket
        assert layer_watch.current_watch(layer) is None

    run(scenario)
