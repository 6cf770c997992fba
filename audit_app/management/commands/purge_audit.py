"""`manage.py purge_audit [--days N] [--dry-run]`: enforce audit retention now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit_app.services import audit_retention_enforce


class Command(BaseCommand):
    help = (
        "Drop audit log partitions older than the retention window, delete older rows from the "
        "partition straddling it (in batches), and create partitions ahead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep this many days (default AUDIT_RETENTION_DAYS, now {settings.AUDIT_RETENTION_DAYS}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Print what would be dropped or deleted.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per delete batch.")

    def handle(self, *args: Any, days: int | None, dry_run: bool, batch_size: int, **options: Any) -> None:
        days = settings.AUDIT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        report = audit_retention_enforce(days=days, dry_run=dry_run, batch_size=batch_size)
        would = "would " if dry_run else ""
        self.stdout.write(f"retention {days} days: cutoff {report.cutoff.isoformat()}{' (dry run)' if dry_run else ''}")
        for name in report.created:
            self.stdout.write(f"{would}create partition {name}")
        for name, rows in report.dropped:
            self.stdout.write(f"{would}drop partition {name} ({rows} rows)")
        for name, rows in report.deleted:
            self.stdout.write(f"{would}delete {rows} rows older than the cutoff from {name}")
        for name, error in report.failed:
            self.stderr.write(f"failed on {name}: {error} (retried by the next run)")
        total = sum(rows for _, rows in report.dropped) + sum(rows for _, rows in report.deleted)
        self.stdout.write(f"{would}remove {total} rows in total")
        if report.failed:
            raise CommandError(f"{len(report.failed)} step(s) failed")
