"""Hostile WebSocket clients: every token attack at the handshake (in process, through the real
channel layer, and at a real uvicorn server, 100 KB tokens included), and floods, malformed and
oversized frames against a real uvicorn server.

Complements sync_app/tests (garbage, bad signature, expired and unsigned tokens, foreign origins,
frame validation and flooding through the in-process communicator).
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
import urllib.request
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from kafka_bridge.embedded import free_port
from sync_app.tests.e2e import next_frame
from sync_app.tests.helpers import communicator, run, token_for
from tests.faults.test_hostile_api import attack_tokens
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.scrape import samples, scrape
from todo_project.uvicorn_args import WEBSOCKET_ARGS

pytestmark = pytest.mark.slow


@pytest.mark.django_db
def test_every_token_attack_is_refused_at_the_websocket_handshake(user: Any) -> None:
    tokens = {name: token for name, token in attack_tokens().items() if len(token) < 4000}

    async def scenario() -> dict[str, bool]:
        outcomes = {}
        for name, token in tokens.items():
            for how, comm in (
                ("query", communicator(f"token={token}")),
                ("subprotocol", communicator(subprotocols=[f"bearer.{token}"])),
            ):
                outcomes[f"{name} ({how})"] = (await comm.connect())[0]
                await comm.disconnect()
        valid = communicator(f"token={token_for(user)}")
        outcomes["a valid token (control)"] = (await valid.connect())[0]
        await valid.disconnect()
        return outcomes

    outcomes = run(scenario)
    assert outcomes.pop("a valid token (control)") is True
    assert outcomes == dict.fromkeys(outcomes, False)


@pytest.fixture
def web(processes: ManagedProcesses, transactional_db: None) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "todo_project.asgi:application", "--port", str(port), *WEBSOCKET_ARGS]
    processes.start("web", argv)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(healthy, timeout=30, message="uvicorn up")
    return f"127.0.0.1:{port}"


def _socket(web: str, token: str) -> Any:
    return connect(f"ws://{web}/ws/sync/?token={token}", origin=f"http://{web}", open_timeout=10, max_size=None)


def _handshake(web: str, token: str, how: str) -> str:
    """How a real uvicorn answers a handshake with `token` (in the query or as the subprotocol):
    "accepted" (the socket opened and said ready), or why it was refused."""
    url, subprotocols = (f"ws://{web}/ws/sync/?token={token}", None)
    if how == "subprotocol":
        url, subprotocols = (f"ws://{web}/ws/sync/", [f"bearer.{token}"])
    try:
        with connect(url, origin=f"http://{web}", subprotocols=subprotocols, open_timeout=10) as ws:
            return "accepted" if next_frame(ws)["type"] == "ready" else "opened without ready"
    except InvalidHandshake as exc:
        response = getattr(exc, "response", None)
        return f"refused: HTTP {response.status_code}" if response is not None else f"refused: {type(exc).__name__}"
    except (ConnectionClosed, OSError) as exc:
        return f"refused: {type(exc).__name__}"


def test_every_token_attack_is_refused_at_a_real_uvicorn_handshake_and_provisions_no_user(
    web: str, user: Any, figures
) -> None:
    users_before = get_user_model().objects.count()
    outcomes = {
        f"{name} ({how})": _handshake(web, token, how)
        for name, token in attack_tokens().items()
        for how in ("query", "subprotocol")
    }
    control = {how: _handshake(web, token_for(user), how) for how in ("query", "subprotocol")}
    figures.record(
        attacks=len(outcomes),
        refused=sum(1 for outcome in outcomes.values() if outcome.startswith("refused")),
        how_refused=dict(sorted(collections.Counter(outcomes.values()).items())),
    )
    assert control == {"query": "accepted", "subprotocol": "accepted"}
    assert {name for name, outcome in outcomes.items() if not outcome.startswith("refused")} == set()
    # Every attack is answered 403 by our handshake, except the 100 KB tokens: uvicorn's
    # websockets-sansio never answers a handshake that large (the client gives up after its
    # open timeout). Refused either way, and no user is created (README, Limits).
    oversized = {name for name in outcomes if name.startswith("100 KB of token")}
    assert len(oversized) == 2
    assert {name for name, outcome in outcomes.items() if outcome != "refused: HTTP 403"} <= oversized
    assert get_user_model().objects.count() == users_before


def test_malformed_and_oversized_frames_get_errors_and_a_flood_is_cut_off_while_others_are_served(
    web: str, user: Any, other_user: Any, figures
) -> None:
    with _socket(web, token_for(user)) as ws:
        assert next_frame(ws)["type"] == "ready"
        answers = {}
        for name, frame in {
            "binary": b"\x00\x01\x02",
            "not JSON": "{not json",
            "JSON but not an object": "[1, 2, 3]",
            "unknown type": json.dumps({"type": "subscribe", "user": other_user.pk}),
            "too large": json.dumps({"type": "ping", "pad": "x" * 100_000}),
            "deeply nested": "[" * 2000 + "]" * 2000,
        }.items():
            ws.send(frame)
            reply = next_frame(ws, timeout=10)
            answers[name] = reply.get("code")
            time.sleep(0.05)  # within the client rate: this part is about content, not volume
        ws.send(json.dumps({"type": "ping"}))
        assert next_frame(ws, timeout=10) == {"type": "pong"}  # still served after all that
    assert answers == {
        "binary": "invalid_frame",
        "not JSON": "invalid_json",
        "JSON but not an object": "invalid_message",
        "unknown type": "unknown_type",
        "too large": "frame_too_large",
        "deeply nested": "invalid_json",
    }

    with _socket(web, token_for(other_user)) as bystander, _socket(web, token_for(user)) as flooder:
        assert next_frame(bystander)["type"] == "ready"
        assert next_frame(flooder)["type"] == "ready"
        started = time.monotonic()
        sent = 0

        def flood() -> None:
            nonlocal sent
            for _ in range(5_000):
                flooder.send('{"type": "ping"}')
                sent += 1
            while True:
                flooder.recv(timeout=10)

        with pytest.raises(ConnectionClosed) as closed:
            flood()
        cut_off_after = time.monotonic() - started
        bystander.send(json.dumps({"type": "ping"}))
        assert next_frame(bystander, timeout=10) == {"type": "pong"}
    # The server closes with 4429. uvicorn's websockets-sansio closes the TCP connection right
    # after the close frame; with the flood's frames still unread there, that is a reset, which
    # can overtake the close frame: the server's own count says why it closed.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4429
    closes = scrape(f"http://{web}/metrics")
    assert samples(closes, "sync_websocket_server_closes_total", reason="too many messages") == [1.0]

    # A frame beyond the server's WebSocket size limit (16 MB) closes that connection only, with
    # 1009. Only the header of a 17 MB frame is written (raw, masked as a client must): the server
    # refuses on the header's length, and with nothing of ours left unread it closes cleanly (a
    # reset after 17 MB unread could overtake its close frame).
    with _socket(web, token_for(user)) as huge, _socket(web, token_for(other_user)) as bystander:
        assert next_frame(huge)["type"] == "ready"
        assert next_frame(bystander)["type"] == "ready"
        header = bytes([0x81, 0x80 | 127]) + (17 * 1024 * 1024).to_bytes(8, "big") + os.urandom(4)
        huge.socket.sendall(header + b"abcd")
        with pytest.raises(ConnectionClosed) as too_big:
            huge.recv(timeout=10)
        bystander.send(json.dumps({"type": "ping"}))
        assert next_frame(bystander, timeout=10) == {"type": "pong"}
    figures.record(
        flood_frames_sent=sent,
        flood_cut_off_after_s=cut_off_after,
        flood_close_code=closed.value.rcvd.code if closed.value.rcvd else None,
        oversized_close_code=too_big.value.rcvd.code if too_big.value.rcvd else None,
    )
    assert too_big.value.rcvd is not None
    assert too_big.value.rcvd.code == 1009
