"""The publisher of bench scenario 5 (`bench.scenarios.ws_scale._publish`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.django_db


class RecordingProducer:
    """Records the order of the client calls; the bench's timing is what is under test."""

    calls: list[str] = []

    def __init__(self, config: dict) -> None:
        RecordingProducer.calls = []

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> None:
        self.calls.append(f"list_topics {topic}")

    def produce(self, topic: str, **kwargs: object) -> None:
        self.calls.append(f"produce {topic}")

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_updates_are_stamped_only_once_the_producer_is_connected(monkeypatch):
    from bench.scenarios import ws_scale

    monkeypatch.setattr(ws_scale, "Producer", RecordingProducer)
    published = ws_scale._publish([SimpleNamespace(pk=7)], rate=1000, seconds=0.003)
    assert published == 3
    assert RecordingProducer.calls == ["list_topics task-updates"] + ["produce task-updates"] * 3
