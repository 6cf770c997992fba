"""core.metrics_server: the Prometheus endpoint of the roles that serve no HTTP."""

from __future__ import annotations

import urllib.request

import pytest

from core import metrics_server
from kafka_bridge.embedded import free_port


@pytest.fixture(autouse=True)
def _fresh_server_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_server, "_started_port", None)
    monkeypatch.delenv("METRICS_PORT", raising=False)


def test_nothing_is_served_without_metrics_port() -> None:
    assert metrics_server.start_metrics_server("worker") is None


@pytest.mark.parametrize("value", ["http", "0", "65536", "-1"])
def test_a_metrics_port_that_is_not_a_port_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("METRICS_PORT", value)
    with pytest.raises(ValueError, match="METRICS_PORT"):
        metrics_server.start_metrics_server("worker")


def test_metrics_are_served_on_metrics_port_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("METRICS_ADDR", "127.0.0.1")
    assert metrics_server.start_metrics_server("worker") == port
    # A second call (worker_init after an explicit start, say) does not try to bind again.
    monkeypatch.setenv("METRICS_PORT", str(free_port()))
    assert metrics_server.start_metrics_server("worker") == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert "python_info" in body
