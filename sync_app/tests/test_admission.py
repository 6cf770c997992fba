"""Handshake admission (`sync_app/admission.py`): a handshake that finds the process full waits
in line when it can be served in time, else it is refused at once; never left hanging."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest

from sync_app import admission, loop_lag


def run(scenario):
    return asyncio.run(scenario())


@pytest.fixture(autouse=True)
def two_opening(settings):
    settings.SYNC_MAX_OPENING_HANDSHAKES = 2
    settings.SYNC_MAX_LOOP_LAG_SECONDS = 0.5


def test_a_handshake_that_finds_the_process_full_waits_and_goes_in_arrival_order():
    async def scenario():
        gate = admission.Gate()
        first, second = await gate.admit(), await gate.admit()
        waiting = [asyncio.ensure_future(gate.admit()) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in waiting)
        first.settle()
        await asyncio.sleep(0.01)
        assert waiting[0].done()
        assert waiting[0].result() is not None
        assert not waiting[1].done()
        second.settle()
        assert (await waiting[1]) is not None
        assert gate.opening == 2
        assert gate.queued == 0

    run(scenario)


def test_a_line_longer_than_can_be_served_in_time_is_refused_at_once():
    async def scenario():
        gate = admission.Gate()
        await gate.admit(), await gate.admit()
        # At the floor rate (2 a second here) a line of 10 is served within 5 s; the 11th is not.
        waiting = [asyncio.ensure_future(gate.admit()) for _ in range(10)]
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        assert (await gate.admit()) is None
        assert asyncio.get_running_loop().time() - started < 0.1
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert gate.queued == 0

    run(scenario)


def test_a_handshake_still_waiting_after_twice_the_wait_is_refused():
    async def scenario():
        gate = admission.Gate()
        await gate.admit(), await gate.admit()
        started = asyncio.get_running_loop().time()
        assert (await gate.admit()) is None
        assert 1.0 <= asyncio.get_running_loop().time() - started < 2.0
        assert gate.queued == 0
        assert gate.opening == 2

    # At the floor rate (2 a second here) one handshake may wait in line: for up to 1 s.
    with mock.patch.object(admission, "QUEUE_WAIT_SECONDS", 0.5):
        run(scenario)


def test_a_handshake_held_back_by_loop_lag_alone_goes_in_once_the_loop_catches_up():
    # Nothing is opening, so no settling handshake wakes the line: joining it must.
    async def scenario():
        gate = admission.Gate()
        probe = loop_lag.current()
        probe.lag = 1.0
        first = asyncio.ensure_future(gate.admit())
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(gate.admit())  # joins the line behind the first
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not second.done()
        probe.lag = 0.0
        assert await asyncio.wait_for(first, 1) is not None
        assert await asyncio.wait_for(second, 1) is not None
        assert (gate.opening, gate.queued) == (2, 0)

    run(scenario)


def test_refusing_a_handshake_whose_peer_left_while_it_waited_raises_nothing():
    async def gone(message):
        raise RuntimeError("Expected ASGI message 'websocket.send' or 'websocket.close'")  # uvicorn's

    async def connect():
        return {"type": "websocket.connect"}

    run(lambda: admission.refuse({"extensions": {admission.DENIAL_EXTENSION: {}}}, connect, gone))
