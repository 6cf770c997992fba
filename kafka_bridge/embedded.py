"""The embedded Kafka brokers for `make dev` and the tests: Tansu (in memory, the default of
`make dev`) or Apache Kafka (one KRaft node, data on disk, the suite's main target), chosen by
KAFKA_EMBEDDED_BROKER when KAFKA_BOOTSTRAP_SERVERS is unset (DESIGN.md section 11).

Run one in the foreground with `python -m kafka_bridge.embedded [--broker B] [--port N]
[--data-dir D]`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kafka_bridge.brokers import apache, tansu

BROKERS = ("tansu", "apache")
DEFAULT_BROKER = "tansu"
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0


def broker_from_environment() -> str:
    broker = os.environ.get("KAFKA_EMBEDDED_BROKER") or DEFAULT_BROKER
    if broker not in BROKERS:
        raise ValueError(f"KAFKA_EMBEDDED_BROKER must be one of {', '.join(BROKERS)}, not {broker!r}")
    return broker


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


def answers_metadata(bootstrap: str, timeout: float = 1.0) -> bool:
    """True once the broker answers a metadata request through the Admin API, naming itself."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


@dataclass
class EmbeddedBroker:
    """One embedded broker on 127.0.0.1:`port`. An Apache Kafka keeps its data in `data_dir`
    (a temporary folder, removed by `stop()`, when none is given), so `kill()` then `start()`
    brings back the same broker; Tansu comes back empty."""

    kind: str
    port: int
    data_dir: Path | None = None
    log_path: Path | None = None
    controller_port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    _temporary: bool = field(default=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "tansu":
            return tansu.command(self.port)
        if self.data_dir is None:
            self.data_dir, self._temporary = Path(tempfile.mkdtemp(prefix="todo-kafka-")), True
        if self.controller_port is None:
            self.controller_port = apache.saved_controller_port(self.data_dir) or free_port()
        config = apache.prepare(port=self.port, data_dir=self.data_dir, controller_port=self.controller_port)
        return apache.command(config)

    def start(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Start in the background and wait until it answers the Admin API."""
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our own broker, fixed arguments
            self.command(), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not answers_metadata(self.bootstrap):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the embedded {self.kind} broker did not come up; see {self.log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM), and remove a temporary data folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._temporary and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir, self._temporary = None, False

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: the data folder stays as the crash left it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def start(
    port: int, *, broker: str | None = None, data_dir: Path | None = None, log_path: Path | None = None
) -> EmbeddedBroker:
    """Start the embedded broker (KAFKA_EMBEDDED_BROKER's unless `broker` is given) on `port`."""
    embedded = EmbeddedBroker(broker or broker_from_environment(), port, data_dir=data_dir, log_path=log_path)
    embedded.start()
    return embedded


def stop(broker: EmbeddedBroker) -> None:
    broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run an embedded Kafka broker in the foreground.")
    parser.add_argument("--broker", choices=BROKERS, default=None, help="default: KAFKA_EMBEDDED_BROKER, else tansu")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--data-dir", type=Path, default=Path(".dev/kafka-data"), help="Apache Kafka's data folder")
    args = parser.parse_args()
    kind = args.broker or broker_from_environment()
    command = EmbeddedBroker(kind, args.port, data_dir=args.data_dir.resolve()).command()
    os.execv(command[0], command)  # noqa: S606 - replaces this process


if __name__ == "__main__":
    sys.exit(main())
