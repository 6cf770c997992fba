"""Hostile WebSocket clients: every token attack at the handshake (in process, through the real
channel layer), and floods, malformed and oversized frames against a real uvicorn server.

Complements sync_app/tests (garbage, bad signature, expired and unsigned tokens, foreign origins,
frame validation and flooding through the in-process communicator).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
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

    # A frame beyond the server's WebSocket size limit closes that connection only (1009).
    with _socket(web, token_for(user)) as huge, _socket(web, token_for(other_user)) as bystander:
        assert next_frame(huge)["type"] == "ready"
        assert next_frame(bystander)["type"] == "ready"

        def send_huge() -> None:
            # The server may close (1009) before the client has finished sending.
            huge.send("x" * (17 * 1024 * 1024))
            huge.recv(timeout=10)

        with pytest.raises(ConnectionClosed) as too_big:
            send_huge()
        bystander.send(json.dumps({"type": "ping"}))
        assert next_frame(bystander, timeout=10) == {"type": "pong"}
    figures.record(
        flood_frames_sent=sent,
        flood_cut_off_after_s=cut_off_after,
        flood_close_code=closed.value.rcvd.code if closed.value.rcvd else None,
        oversized_close_code=too_big.value.rcvd.code if too_big.value.rcvd else None,
    )
