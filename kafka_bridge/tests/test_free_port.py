"""`free_port()`: the listening ports our scripts and tests give child processes."""

from __future__ import annotations

import random
import socket

from kafka_bridge.embedded import _ephemeral_floor, free_port


def test_ports_are_free_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    # A port from the ephemeral range may go to an outgoing connection before the child binds it.
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    floor = _ephemeral_floor()
    assert floor, "this test runs on Linux, whose ephemeral range is readable"
    assert all(port < floor for port in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_a_port_something_listens_on_is_not_handed_out(monkeypatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks: list[int] = []
        randrange = random.randrange

        def pick_the_busy_port_first(low: int, high: int) -> int:
            picks.append(busy if not picks else randrange(low, high))
            return picks[-1]

        monkeypatch.setattr("kafka_bridge.embedded._ephemeral_floor", lambda: 65535)
        monkeypatch.setattr("kafka_bridge.embedded.random.randrange", pick_the_busy_port_first)
        port = free_port()
    assert picks[0] == busy
    assert port == picks[-1] != busy
