"""Run the benchmarks, print the table, write `bench/results/latest.json` and latency plots.

`python -m bench [--quick] [--only NAME ...] [--broker B]`; the PNG plots need matplotlib.

The run's one embedded broker: `--broker`, else KAFKA_EMBEDDED_BROKER, else the broker every
selected scenario prefers (`PREFERRED_BROKER`), else Tansu.

Exit status: 0 when every scenario ran (whether or not its targets were met), 1 when one failed
to run. `--require-targets` makes a missed target fail the run too.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BROKERS = ("apache", "tansu")
DEFAULT_BROKER = "tansu"
# Scenarios measured on another broker than the default when nothing else is asked for. Scenario
# 10 sizes a deployment from the CPU of every process as deployed, broker included (helm/ and
# docker/compose.yaml run Apache Kafka); the others' figures have all been measured on Tansu.
PREFERRED_BROKER = {"users_10k": "apache"}


def choose_broker(requested: str | None, only: list[str] | None) -> str:
    """The run's broker: `requested`, else KAFKA_EMBEDDED_BROKER, else the one the scenarios
    `only` all prefer, else DEFAULT_BROKER (a run of every scenario included)."""
    chosen = requested or os.environ.get("KAFKA_EMBEDDED_BROKER")
    if chosen:
        return chosen
    preferred = {PREFERRED_BROKER.get(name, DEFAULT_BROKER) for name in only or ()}
    return preferred.pop() if len(preferred) == 1 else DEFAULT_BROKER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run (< 2 minutes)")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--require-targets", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--broker",
        choices=BROKERS,
        default=None,
        help="the embedded broker (default: KAFKA_EMBEDDED_BROKER, else apache when every scenario "
        f"run prefers it ({', '.join(PREFERRED_BROKER)}), else {DEFAULT_BROKER})",
    )
    args = parser.parse_args(argv)

    # SIGTERM (a CI timeout, Ctrl-C from make) unwinds through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from bench.config import FULL, QUICK
    from bench.harness import Harness

    config = QUICK if args.quick else FULL
    harness = Harness(choose_broker(args.broker, args.only))
    started = time.monotonic()
    failures: dict[str, str] = {}
    try:
        print(
            f"bench {config.name}: run {harness.run_id} on {harness.broker_name}, logs in {harness.log_dir}", flush=True
        )
        harness.open()
        from bench.scenarios import ORDER
        from bench.stats import Report, table, write_json, write_plots

        report = Report(mode=config.name, run_id=harness.run_id)
        harness.relay()
        harness.celery_worker()
        durations = {}
        for name, module in ORDER.items():
            if args.only and name not in args.only:
                continue
            print(f"  {name} …", end="", flush=True)
            scenario_started = time.monotonic()
            try:
                module.run(harness, config, report)
            except Exception as exc:  # noqa: BLE001 - one failing scenario must not hide the others
                failures[name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
            durations[name] = round(time.monotonic() - scenario_started, 1)
            print(f" {durations[name]} s{' FAILED' if name in failures else ''}", flush=True)
        elapsed = time.monotonic() - started
        print()
        print(table(report))
        for name, error in failures.items():
            print(f"\nscenario {name} failed: {error}")
        write_json(
            report,
            args.output,
            {
                "finished_at": datetime.now(UTC).isoformat(),
                "broker": harness.broker_name,
                "seconds": round(elapsed, 1),
                "scenario_seconds": durations,
                "failures": failures,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
            },
        )
        plots = write_plots(report, args.output.parent)
        print(f"\n{args.output}" + (f" and {len(plots)} plot(s)" if plots else "") + f"; {elapsed:.0f} s in all")
        missed = [f for f in report.figures if f.met is False]
    finally:
        harness.close()
    if failures:
        return 1
    return 1 if args.require_targets and missed else 0


if __name__ == "__main__":
    sys.exit(main())
