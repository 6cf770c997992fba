"""The real stack for the sync end-to-end tests: uvicorn, the outbox relay and the `sync`
consumer as child processes, plus small clients for the REST API, WebSockets and Chromium (CDP).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from kafka_bridge.embedded import free_port
from tests.fixtures import ManagedProcesses, subprocess_env, wait_until
from todo_project.uvicorn_args import WEBSOCKET_ARGS


class Stack:
    """Web server, relay and sync consumer against the test database and the run's broker."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.managed = ManagedProcesses("sync_app-e2e")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web: Any = None

    def start(self) -> None:
        consumer = self.managed.manage("sync-consumer", "run_consumer", "sync", env=self.env)
        self.managed.manage("relay", "relay_outbox", "--loop", env=self.env)
        self.start_web()
        log = Path(consumer.log_path)
        wait_until(lambda: "partitions assigned" in log.read_text(), timeout=60, message="sync consumer assigned")

    def start_web(self) -> None:
        self.web = self.managed.start(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "todo_project.asgi:application",
                "--port",
                str(self.port),
                *WEBSOCKET_ARGS,
            ],
            env=self.env,
        )
        wait_until(self._healthy, timeout=30, message="uvicorn up")

    def kill_web(self) -> None:
        self.managed.kill(self.web)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:  # noqa: S310 - our http URL
                return response.status == 200
        except OSError:
            return False

    # --- REST ---------------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            f"{self.base}/api/v1/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    # --- WebSockets ---------------------------------------------------------------------------

    def socket(self, query: str = "", *, origin: str | None = None, **kwargs: Any) -> ClientConnection:
        url = f"ws://127.0.0.1:{self.port}/ws/sync/" + (f"?{query}" if query else "")
        return connect(url, origin=origin or self.base, open_timeout=10, **kwargs)

    def refused_status(self, query: str = "", **kwargs: Any) -> int | None:
        """The HTTP status of a refused handshake; None if it was accepted."""
        try:
            ws = self.socket(query, **kwargs)
        except InvalidStatus as exc:
            return exc.response.status_code
        ws.close()
        return None


@contextlib.contextmanager
def web_only(django_db_blocker: Any, **env: str) -> Iterator[Stack]:
    """A uvicorn of the web role alone, against the test database, with `env` on top of a child's
    environment; stopped on exit. For module-scoped fixtures."""
    with django_db_blocker.unblock():
        environment = subprocess_env(**env)
    stack = Stack(environment)
    try:
        stack.start_web()
        yield stack
    finally:
        stack.managed.stop_all()


def next_frame(ws: ClientConnection, timeout: float = 20.0) -> dict[str, Any]:
    """The next frame that is not a server ping."""
    while True:
        frame = json.loads(ws.recv(timeout=timeout))
        if frame["type"] != "ping":
            return frame


def frames_until(ws: ClientConnection, frame_type: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    frames = []
    while True:
        frames.append(next_frame(ws, timeout))
        if frames[-1]["type"] == frame_type:
            return frames


def no_frame(ws: ClientConnection, wait: float) -> bool:
    try:
        frame = next_frame(ws, timeout=wait)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {frame}")


# --- Chromium over the DevTools protocol -----------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


class Browser:
    """Headless Chromium driven over CDP with the websockets client; nothing is downloaded."""

    def __init__(self, managed: ManagedProcesses, profile: Path) -> None:
        self.process = managed.start(
            "chromium",
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
        )
        port_file = profile / "DevToolsActivePort"
        wait_until(port_file.exists, timeout=30, message="Chromium DevTools port")
        port, browser_path = wait_until(lambda: port_file.read_text().split() or None, timeout=10)
        self.ws = connect(f"ws://127.0.0.1:{port}{browser_path}", max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ws.close()


def wait_for_page(browser: Browser, expression: str, timeout: float = 30.0, message: str = "") -> Any:
    """Poll `expression` in the page until it is truthy. While a page is loading `document.body`
    may not exist yet, so errors count as "not yet"; the last one is reported on timeout."""
    guarded = (
        f"(() => {{ try {{ return {{value: ({expression})}}; }} catch (e) {{ return {{error: String(e)}}; }} }})()"
    )
    deadline = time.monotonic() + timeout
    while True:
        outcome = browser.evaluate(guarded)
        if outcome.get("value"):
            return outcome["value"]
        if time.monotonic() > deadline:
            status = browser.evaluate("document.body && document.body.dataset.syncStatus")
            raise AssertionError(f"timed out waiting for {message or expression}: {outcome}, sync status {status}")
        time.sleep(0.1)
