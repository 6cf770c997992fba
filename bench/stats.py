"""Figures (ours, baseline, ratio, target), the printed table, the JSON report and the plots."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


@dataclass
class Figure:
    """One line of the table. `ratio` is ours / baseline. `target` is checked as written:
    ("ratio>=", x), ("ratio<=", x), ("ours<=", x) or None (informational)."""

    scenario: str
    name: str
    unit: str
    ours: float
    baseline: float | None = None
    baseline_label: str = ""
    target: tuple[str, float] | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.baseline != self.baseline or self.ours != self.ours:
            return None
        return self.ours / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        kind, bound = self.target
        value = self.ours if kind.startswith("ours") else self.ratio
        if value is None or value != value:
            return False
        return value >= bound if kind.endswith(">=") else value <= bound

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            ratio=self.ratio, met=self.met, target=f"{self.target[0]} {self.target[1]:g}" if self.target else None
        )
        return data


@dataclass
class Report:
    mode: str
    run_id: str
    figures: list[Figure] = field(default_factory=list)
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:
        return "—"
    if unit == "ms" or abs(value) < 10:
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(report: Report) -> str:
    """A Markdown table (prints well in a terminal and pastes into the README)."""
    lines = [
        "| # | figure | ours | baseline (same run) | ratio | target | met |",
        "|---|---|---:|---|---:|---|:-:|",
    ]
    for figure in sorted(report.figures, key=lambda f: f.scenario):
        baseline = f"{_fmt(figure.baseline, figure.unit)} {figure.baseline_label}".strip() if figure.baseline else "—"
        ratio = f"{figure.ratio:.2f}" if figure.ratio is not None else "—"
        target = (
            f"{figure.target[0].replace('ours', '').replace('ratio', 'ratio ')} {figure.target[1]:g}"
            if figure.target
            else ""
        )
        met = {True: "yes", False: "**no**", None: ""}[figure.met]
        name = figure.name + (f" ({figure.note})" if figure.note else "")
        ours = _fmt(figure.ours, figure.unit)
        lines.append(f"| {figure.scenario} | {name} | {ours} | {baseline} | {ratio} | {target.strip()} | {met} |")
    return "\n".join(lines)


def write_json(report: Report, path: Path, extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "mode": report.mode,
        "run_id": report.run_id,
        **extra,
        "figures": [figure.as_dict() for figure in sorted(report.figures, key=lambda f: f.scenario)],
        "scenarios": report.scenarios,
        "latency_summaries_ms": {
            name: {series: summary(values) for series, values in groups.items()}
            for name, groups in report.samples.items()
        },
    }
    path.write_text(json.dumps(document, indent=2, default=str, allow_nan=True) + "\n")


def write_plots(report: Report, directory: Path) -> list[Path]:
    """One PNG per latency scenario: the empirical CDF of ours and of the baseline (log x).
    Returns the files written; none if matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    for name, groups in report.samples.items():
        figure, axis = plt.subplots(figsize=(7, 4))
        for series, values in groups.items():
            if not values:
                continue
            ordered = sorted(max(v, 1e-3) for v in values)
            axis.plot(
                ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=f"{series} (n={len(values)})"
            )
        axis.set_xscale("log")
        axis.set_xlabel("latency (ms, log scale)")
        axis.set_ylabel("fraction of samples ≤ x")
        axis.axhline(0.99, color="grey", linewidth=0.5, linestyle="--")
        axis.set_title(name)
        axis.grid(True, which="both", linewidth=0.3)
        axis.legend()
        figure.tight_layout()
        path = directory / f"{name.replace(' ', '_').replace('/', '-')}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written
