"""Headless Debian Chromium that can reach this machine's loopback addresses and nothing else,
driven over the DevTools protocol (CDP) with the `websockets` client; nothing is downloaded.

How the network is shut off, so that a page loading anything from another origin fails here
even on a machine with internet access:
- every request goes to a proxy at 127.0.0.1:9, where nothing listens; Chromium's built-in
  bypass keeps loopback hosts (localhost, 127.0.0.0/8, [::1]) direct, so only they answer;
- host names other than localhost resolve to nothing, for whatever would not use the proxy;
- background traffic of the browser itself (updates, sync, field trials) is switched off.
`unreachable_from_browser` proves it on this machine with a server of ours on a non-loopback
address. What the page requested, what failed, its console errors and every
Content-Security-Policy violation are recorded for the test to assert on.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import itertools
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.fixtures import ManagedProcesses, wait_until

CHROMIUM = "/usr/bin/chromium"
DEAD_PROXY = "127.0.0.1:9"
OFFLINE_FLAGS = (
    f"--proxy-server=http://{DEAD_PROXY}",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-pings",
)
# Installed before any page script runs: a page's policy violations, readable by the test.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


class Chromium:
    def __init__(self, managed: ManagedProcesses, profile: Path, *, width: int = 1440, height: int = 900) -> None:
        self.process = managed.start(
            "chromium",
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                *OFFLINE_FLAGS,
                "about:blank",
            ],
        )
        port_file = profile / "DevToolsActivePort"
        wait_until(port_file.exists, timeout=30, message="Chromium DevTools port")
        port, browser_path = wait_until(lambda: port_file.read_text().split() or None, timeout=10)
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{port}{browser_path}", max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.page(f"{domain}.enable")
        self.page("Page.addScriptToEvaluateOnNewDocument", source=RECORD_VIOLATIONS)
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    # --- the protocol ---------------------------------------------------------------------------

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
            if "method" in reply:
                self.events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    # --- pages ----------------------------------------------------------------------------------

    def open(self, url: str) -> str:
        """Navigate and wait for the load; the navigation's error text ('' when it loaded)."""
        outcome = self.page("Page.navigate", url=url)
        if outcome.get("errorText"):
            return outcome["errorText"]
        self.wait_for("document.readyState === 'complete'", message=f"{url} loaded")
        return ""

    def wait_for(self, expression: str, timeout: float = 30.0, message: str = "") -> Any:
        """Poll `expression` until truthy (an element counts as true); errors while a page loads
        count as "not yet"."""
        guarded = (
            f"(() => {{ try {{ const v = ({expression}); return {{value: v instanceof Node ? true : v}}; }} "
            "catch (e) { return {error: String(e)}; } })()"
        )
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.evaluate(guarded) or {}
            if outcome.get("value"):
                return outcome["value"]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {message or expression}: {outcome}")
            time.sleep(0.1)

    def click_and_wait(self, selector: str, url_part: str) -> None:
        """Click a link and wait until the next page, whose URL contains `url_part`, has loaded."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_for(
            f"location.href.includes({json.dumps(url_part)}) && document.readyState === 'complete'",
            message=f"a page with {url_part} in its URL",
        )

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.page("Page.captureScreenshot", format="png")["data"]))

    # --- what happened --------------------------------------------------------------------------

    def _events(self, method: str) -> list[dict[str, Any]]:
        with contextlib.suppress(TimeoutError):  # take what has arrived since the last call
            while True:
                message = json.loads(self.ws.recv(timeout=0.05))
                if "method" in message:
                    self.events.append(message)
        return [event["params"] for event in self.events if event["method"] == method]

    def requested_urls(self) -> list[str]:
        return [event["request"]["url"] for event in self._events("Network.requestWillBeSent")]

    def failed_requests(self) -> list[str]:
        urls = {e["requestId"]: e["request"]["url"] for e in self._events("Network.requestWillBeSent")}
        return [f"{urls.get(e['requestId'])}: {e['errorText']}" for e in self._events("Network.loadingFailed")]

    def errors(self) -> list[str]:
        thrown = [e["exceptionDetails"].get("text", "") for e in self._events("Runtime.exceptionThrown")]
        console = [
            " ".join(str(arg.get("value", arg.get("description", ""))) for arg in e["args"])
            for e in self._events("Runtime.consoleAPICalled")
            if e["type"] == "error"
        ]
        return thrown + console

    def csp_violations(self) -> list[str]:
        return self.evaluate("window.__cspViolations || []")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ws.close()


def non_loopback_address() -> str | None:
    """An address of this machine outside 127.0.0.0/8 (the route a packet to the world takes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.255", 9))  # no packet is sent: this only picks the route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@contextlib.contextmanager
def server_on(address: str):
    """A tiny HTTP server of ours on `address`: reachable from this process, not from the browser."""

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"reachable")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
