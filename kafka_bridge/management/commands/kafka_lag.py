"""`manage.py kafka_lag [--json] [--group G] [--max-messages N] [--max-seconds S]`

Per consumer group and partition: committed offset, end offset, messages and seconds behind.
Exits non-zero (2) when any group is above a threshold (defaults: the alert rules of DESIGN.md
section 9, 1000 messages or 300 s), so it doubles as a probe.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kafka_bridge.lag import group_lag
from kafka_bridge.registry import consumers


class Command(BaseCommand):
    help = "Report consumer lag per group and partition; non-zero exit above the thresholds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON document.")
        parser.add_argument("--group", action="append", help="A consumer name (repeatable); default: all.")
        parser.add_argument("--max-messages", type=int, default=1000)
        parser.add_argument("--max-seconds", type=float, default=300.0)

    def handle(
        self, *args: Any, as_json: bool, group: list[str] | None, max_messages: int, max_seconds: float, **options: Any
    ) -> None:
        known = consumers()
        names = group or list(known)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise CommandError(f"unknown consumers {unknown}; known: {', '.join(known)}")
        report = []
        for name in names:
            definition = known[name]
            partitions = group_lag(definition.group_id, list(definition.topics))
            messages = sum(p.messages_behind for p in partitions)
            seconds = max((p.seconds_behind for p in partitions), default=0.0)
            report.append(
                {
                    "consumer": name,
                    "group": definition.group_id,
                    "messages_behind": messages,
                    "seconds_behind": seconds,
                    "ok": messages <= max_messages and seconds <= max_seconds,
                    "partitions": [p.as_dict() for p in partitions],
                }
            )
        ok = all(entry["ok"] for entry in report)
        if as_json:
            self.stdout.write(json.dumps({"ok": ok, "groups": report}, indent=2))
        else:
            self._write_table(report)
        if not ok:
            raise CommandError(
                f"consumer lag above thresholds ({max_messages} messages or {max_seconds} s)", returncode=2
            )

    def _write_table(self, report: list[dict[str, Any]]) -> None:
        self.stdout.write(
            f"{'group':<20} {'topic':<22} {'part':>4} {'committed':>10} {'end':>10} {'behind':>8} {'secs':>8}"
        )
        for entry in report:
            for p in entry["partitions"]:
                committed = "-" if p["committed"] is None else p["committed"]
                self.stdout.write(
                    f"{p['group']:<20} {p['topic']:<22} {p['partition']:>4} {committed:>10} {p['end']:>10} "
                    f"{p['messages_behind']:>8} {p['seconds_behind']:>8.1f}"
                )
            status = "ok" if entry["ok"] else "BEHIND"
            behind = f"{entry['messages_behind']} messages, {entry['seconds_behind']:.1f} s behind"
            self.stdout.write(f"{entry['group']}: {behind} ({status})")
