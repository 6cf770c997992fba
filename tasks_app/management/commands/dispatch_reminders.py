"""`manage.py dispatch_reminders [--loop] [--interval S] [--limit N]`: fire due reminders.

One pass by default (operators, cron); `--loop` keeps dispatching every `--interval` seconds until
SIGTERM/SIGINT, as a dedicated process where Celery beat is not wanted. Safe to run alongside
beat or other loops: passes skip each other's rows.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from tasks_app.reminders import reminders_dispatch_due

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Fire due reminders (emit reminder.due); once, or in a loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep dispatching until stopped")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.REMINDER_DISPATCH_INTERVAL_SECONDS,
            help="seconds between passes with --loop (default: REMINDER_DISPATCH_INTERVAL_SECONDS)",
        )
        parser.add_argument("--limit", type=int, default=500, help="reminders per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0 or options["limit"] <= 0:
            self.stderr.write("--interval and --limit must be positive")
            raise SystemExit(2)
        stop = threading.Event()
        if options["loop"]:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        total = 0
        if options["loop"]:
            self.stdout.write(f"dispatching due reminders every {options['interval']} s", ending="\n")
            self.stdout.flush()
        while not stop.is_set():
            if options["loop"]:
                close_old_connections()  # a long-lived loop survives database restarts
            try:
                fired = reminders_dispatch_due(limit=options["limit"])
            except DatabaseError:
                if not options["loop"]:
                    raise
                logger.exception("dispatch pass failed; retrying after the interval")
                fired = 0
            total += fired
            if fired:
                self.stdout.write(f"fired {fired} reminder(s)")
            if fired >= options["limit"]:
                continue  # a backlog: drain it before sleeping
            if not options["loop"] or stop.wait(options["interval"]):
                break
        self.stdout.write(f"done: {total} reminder(s) fired")
