"""The quick benchmark run end to end, so CI exercises `make bench-quick`'s code path.

It runs `python -m bench --quick` as a child process (its own broker, database and servers, not
this test run's) and checks that every scenario ran and reported its figure with a baseline
measured in the same run. Targets are not asserted: on a shared 2-core machine absolute times
vary; the full run (`make bench`) is where they are judged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    ("1 outbox relay", "relay throughput"),
    ("2 audit ingest", "audit ingest"),
    ("3 REST→WebSocket", "latency p99"),
    ("4 REST", "task create throughput"),
    ("5 WebSocket scale", "delivery p99"),
    ("5 WebSocket scale", "memory per connection"),
    ("6 reminders", "fire lag p99"),
    ("6b reminders → inbox", "due → SMTP accepted p99"),
    ("7 recurrence", "completions → next occurrences"),
    ("10 10k users", "sustained actions/s"),
}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_benchmark_reports_every_scenario_against_its_baseline(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    env = {k: v for k, v in __import__("os").environ.items() if k not in _RUN_SCOPED}
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["failures"] == {}
    figures = {(f["scenario"], f["name"]): f for f in report["figures"]}
    assert set(figures) >= EXPECTED
    for key in EXPECTED:
        figure = figures[key]
        assert figure["ours"] == figure["ours"], f"{key}: no measurement"  # not NaN
        assert figure["baseline"], f"{key}: no baseline"
        assert figure["ratio"] is not None, f"{key}: no ratio"
    ws = figures[("5 WebSocket scale", "frames to the wrong user")]
    assert ws["ours"] == 0
    assert figures[("5 WebSocket scale", "connections held")]["ratio"] == 1.0
    # Every reminder's e-mail reached the SMTP server, once.
    assert figures[("6b reminders → inbox", "e-mails received")]["ratio"] == 1.0
    assert figures[("6b reminders → inbox", "e-mails accepted twice (duplicates)")]["ours"] == 0
    assert figures[("10 10k users", "frames to the wrong user")]["ours"] == 0
    assert "| 1 outbox relay | relay throughput |" in completed.stdout


# The test harness points this run at its own database, broker and queue; the bench makes its own.
_RUN_SCOPED = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "TEST_DATABASE_NAME",
    "CELERY_TASK_DEFAULT_QUEUE",
    "CHANNEL_LAYER_PREFIX",
    "DJANGO_SETTINGS_MODULE",
}
