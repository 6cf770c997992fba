"""`make dev`'s process runner: the whole system up and ready within 60 s, nothing left after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kafka_bridge.embedded import free_port
from tests.fixtures import LOG_DIR, ROOT, subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROLES = {
    "web",
    "worker",
    "beat",
    "relay",
    "consumer-recurrence",
    "consumer-notifications",
    "consumer-sync",
    "consumer-audit",
}


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ready(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            body = json.load(response)
    except (OSError, ValueError):
        return None
    return body if body.get("status") == "ok" else None


def test_dev_runs_every_process_ready_within_60_s_and_ctrl_c_leaves_nothing(kafka_topics: None) -> None:
    env = subprocess_env(
        PORT=str(free_port()),
        KAFKA_EMBEDDED_PORT=str(free_port()),
        KAFKA_EMBEDDED_DATA_DIR=str(LOG_DIR / "make-dev-kafka-data"),
    )
    # Unset: the runner starts its own embedded broker, of this lane's kind (KAFKA_EMBEDDED_BROKER),
    # and every process works out from that alone whether Tansu's workarounds apply.
    env.pop("KAFKA_BOOTSTRAP_SERVERS")
    env.pop("KAFKA_TANSU_WORKAROUNDS", None)
    log = (LOG_DIR / "make-dev.log").open("wb")
    started = time.monotonic()
    processes: set[int] = set()
    runner = subprocess.Popen(
        [sys.executable, "scripts/dev.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = wait_until(lambda: _ready(int(env["PORT"])), timeout=60, message="/readyz ok from make dev")
        assert all(check["ok"] for check in body["checks"].values())
        assert time.monotonic() - started < 60
        output = Path(log.name).read_text(errors="replace")
        assert {role for role in ROLES if f"{role}.1 " in output} == ROLES
        processes = _descendants(runner.pid)
        assert len(processes) >= len(ROLES)
    finally:
        runner.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        try:
            runner.wait(timeout=45)
        finally:
            if runner.poll() is None:
                os.killpg(runner.pid, signal.SIGKILL)
            log.close()
    wait_until(lambda: not any(_alive(pid) for pid in processes), timeout=15, message="every dev process gone")
