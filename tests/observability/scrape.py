"""Reading Prometheus endpoints and JSON log files of the child processes under test."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint: {(sample name, labels): value}. Empty when it is not up."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own http URL
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def samples(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> list[float]:
    """Values of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [value for (sample, got), value in metrics.items() if sample == name and wanted <= got]


def total(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(samples(metrics, name, **labels))


def json_lines(path: str | Path) -> list[dict[str, Any]]:
    """The JSON log lines of a child's log file (other lines, e.g. Celery's banner, skipped)."""
    lines = []
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines
