"""Reads of the audit log: who may see what, and the filtered query behind the API and export."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from audit_app.models import AuditLog

NEWEST_FIRST = ("-occurred_at", "-id")
OLDEST_FIRST = ("occurred_at", "id")


@dataclass(frozen=True)
class AuditFilters:
    """Validated filters (the API's filter serializer builds them). Empty means unfiltered."""

    user: str | None = None
    actions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    task: uuid.UUID | None = None
    correlation_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def audit_log_visible_to(*, actor: Any) -> QuerySet[AuditLog]:
    """Staff see every entry; anyone else only entries of their own events (the envelope's
    `userid` is the Django user id as a string)."""
    if actor.is_staff:
        return AuditLog.objects.all()
    return AuditLog.objects.filter(user_id=str(actor.pk))


def audit_log_list(*, actor: Any, filters: AuditFilters, newest_first: bool = True) -> QuerySet[AuditLog]:
    """The entries `actor` may see matching `filters`, ordered by (occurred_at, id).

    Every filter is an equality (or IN) on a column with its own (column, occurred_at, id)
    index, and since/until bound occurred_at, the partition key, so PostgreSQL skips whole
    partitions outside the range (see migration 0001 for the index choice).
    """
    queryset = audit_log_visible_to(actor=actor)
    if filters.user is not None:
        queryset = queryset.filter(user_id=filters.user)
    if filters.actions:
        queryset = queryset.filter(event_type__in=filters.actions)
    if filters.topics:
        queryset = queryset.filter(topic__in=filters.topics)
    if filters.task is not None:
        queryset = queryset.filter(task_id=filters.task)
    if filters.correlation_id is not None:
        queryset = queryset.filter(correlation_id=filters.correlation_id)
    if filters.since is not None:
        queryset = queryset.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        queryset = queryset.filter(occurred_at__lt=filters.until)
    return queryset.order_by(*(NEWEST_FIRST if newest_first else OLDEST_FIRST))


def audit_log_before(queryset: QuerySet[AuditLog], *, occurred_at: datetime, id: int) -> QuerySet[AuditLog]:
    """Entries strictly after the keyset position (occurred_at, id) in newest-first order.

    The redundant `occurred_at <= position` gives PostgreSQL an index range bound and prunes
    newer partitions; the OR then drops the ties already seen."""
    return queryset.filter(Q(occurred_at__lte=occurred_at), Q(occurred_at__lt=occurred_at) | Q(id__lt=id))
