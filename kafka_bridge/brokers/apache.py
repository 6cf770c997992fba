"""The embedded Apache Kafka broker: one KRaft node (broker and controller), data on disk.

Its jars come from Maven Central (`apache-kafka.pom.xml` beside this file), resolved once per
machine into a cache folder outside the repository. A data folder that holds a formatted log is
started as it is, so a restart keeps every topic, record and committed offset.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import uuid
from base64 import urlsafe_b64encode
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
POM = HERE / "apache-kafka.pom.xml"
LOG4J_CONFIG = HERE / "apache-kafka-log4j2.xml"
CONFIG_NAME = "server.properties"
LOG_DIR_NAME = "kraft"
HEAP = ("-Xms256m", "-Xmx512m")
# The JVM options of the distribution's kafka-server-start.sh / kafka-run-class.sh.
JVM_OPTIONS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

# The broker settings shared by every Apache Kafka this project runs: the embedded one (tests and
# `make dev`) and docker/compose.yaml (tests/ops/test_compose.py holds them equal).
BROKER_SETTINGS: dict[str, str] = {
    # A single node: every internal topic with one replica.
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    # Topics are created by `manage.py kafka_topics` (and the runner), with their configs, never
    # by a client that happens to name one.
    "auto.create.topics.enable": "false",
    "num.partitions": "3",
    # A group's first member is assigned at once, not after 3 s.
    "group.initial.rebalance.delay.ms": "0",
    # KIP-848 groups fail a dead member over as fast as classic ones with the runner's 6 s
    # session (the broker's defaults are 45 s and 5 s heartbeats).
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.heartbeat.interval.ms": "1000",
    "group.consumer.heartbeat.interval.ms": "1000",
}


class BrokerSetupError(RuntimeError):
    """The broker cannot be prepared here (no Java, no Maven, or a failed resolution)."""


@cache
def version() -> str:
    """The Kafka version the pom pins."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = ElementTree.parse(POM).getroot().find("m:properties/m:kafka.version", namespace)  # noqa: S314 - our file
    if found is None or not found.text:
        raise BrokerSetupError(f"{POM} names no kafka.version")
    return found.text.strip()


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "todo-backend" / f"apache-kafka-{version()}"


def _executable(name: str, hint: str) -> str:
    home = os.environ.get("JAVA_HOME") if name == "java" else None
    found = str(Path(home) / "bin" / name) if home else shutil.which(name)
    if not found or not os.access(found, os.X_OK):
        raise BrokerSetupError(f"`{name}` not found: {hint}")
    return found


def ensure_jars() -> Path:
    """The folder of the broker's jars, resolved by Maven on first use (under a file lock, since
    several test runs may start at once)."""
    libs = cache_dir() / "libs"
    done = libs / ".complete"
    if done.exists():
        return libs
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return libs
        mvn = _executable("mvn", "install Apache Maven (Debian: apt-get install maven)")
        staging = cache_dir() / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerSetupError(f"Maven could not resolve Apache Kafka {version()}:\n{result.stdout}{result.stderr}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        done.touch()
    return libs


def server_properties(*, port: int, controller_port: int, data_dir: Path) -> dict[str, str]:
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir / LOG_DIR_NAME),
        **BROKER_SETTINGS,
    }


def saved_controller_port(data_dir: Path) -> int | None:
    """The controller port of the configuration a data folder was last started with: the node
    keeps its quorum address across restarts."""
    config = data_dir / CONFIG_NAME
    if not config.exists():
        return None
    match = re.search(r"^controller\.quorum\.voters=1@[^:]+:(\d+)$", config.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


def _java(*args: str) -> list[str]:
    java = _executable("java", "install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless)")
    return [java, *HEAP, *JVM_OPTIONS, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", "-cp", f"{ensure_jars()}/*", *args]


def _cluster_id() -> str:
    return urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def prepare(*, port: int, data_dir: Path, controller_port: int) -> Path:
    """Write the node's configuration into `data_dir` and format its log folder unless it holds
    one already. Returns the configuration file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / CONFIG_NAME
    properties = server_properties(port=port, controller_port=controller_port, data_dir=data_dir)
    config.write_text("".join(f"{name}={value}\n" for name, value in properties.items()))
    if not (data_dir / LOG_DIR_NAME / "meta.properties").exists():
        result = subprocess.run(  # noqa: S603 - fixed arguments
            _java("kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}", "--config", str(config)),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerSetupError(f"formatting {data_dir} failed:\n{result.stdout}{result.stderr}")
    return config


def command(config: Path) -> list[str]:
    return _java("kafka.Kafka", str(config))
