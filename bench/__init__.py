"""Benchmarks of the event paths against baselines measured in the same run (issue 9).

`python -m bench [--quick]` (or `make bench` / `make bench-quick`) starts its own Kafka-protocol
broker, database and child processes, runs each scenario bounded in count and time, prints a
table and writes `bench/results/latest.json` (plus PNG latency plots). See `bench/README.md`.
"""
