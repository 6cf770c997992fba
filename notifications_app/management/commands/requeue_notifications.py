"""`manage.py requeue_notifications (--id ID ... | --task ID | --all-dead) [--since ISO] [--dry-run]`

Sends dead notifications again, once their cause is fixed (a mailbox re-enabled, ESP credentials
corrected): each gets fresh attempts and keeps its Message-ID. Only dead ones are touched.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from notifications_app.models import Notification, NotificationStatus
from notifications_app.services.notifications import notification_requeue


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise CommandError(f"not a UUID: {value}") from exc


class Command(BaseCommand):
    help = "Send dead notifications again (fresh attempts, same Message-ID)."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", action="append", default=[], help="a notification id (repeatable)")
        which.add_argument("--task", help="every dead notification of this task id")
        which.add_argument("--all-dead", action="store_true", help="every dead notification")
        parser.add_argument("--since", help="only those that died at or after this ISO 8601 time")
        parser.add_argument("--dry-run", action="store_true", help="list them; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        dead = Notification.objects.filter(status=NotificationStatus.DEAD)
        if options["id"]:
            dead = dead.filter(id__in=[_uuid(value) for value in options["id"]])
        elif options["task"]:
            dead = dead.filter(task_id=_uuid(options["task"]))
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None or since.tzinfo is None:
                raise CommandError("--since must be an ISO 8601 time with a UTC offset")
            dead = dead.filter(dead_at__gte=since)
        requeued = 0
        for notification in dead.order_by("dead_at"):
            self.stdout.write(f"{notification.id} task {notification.task_id}: {notification.last_error[:120]}")
            if not options["dry_run"]:
                requeued += notification_requeue(notification_id=notification.id)
        verb = "would requeue" if options["dry_run"] else "requeued"
        self.stdout.write(f"{verb} {dead.count() if options['dry_run'] else requeued} notification(s)")
