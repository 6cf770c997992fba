"""Reads of the audit log: who may see what, and the filtered query behind the API and export."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from audit_app.models import AuditLog
from tasks_app.models import Task
from tasks_app.selectors import search_queries

# Events of one instant (a change's events share their millisecond) in the order the outbox
# wrote them (their CloudEvents `sequence`); entries of the same event and sequence by arrival.
NEWEST_FIRST = ("-occurred_at", "-sequence", "-id")
OLDEST_FIRST = ("occurred_at", "sequence", "id")
# How many users (by name or e-mail) or tasks (by title words) one search term may stand for: the
# audit query gets their ids as a list, and a bounded list keeps it a few index lookups.
SEARCH_MATCH_LIMIT = 200


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
    """The entries `actor` may see matching `filters`, ordered by (occurred_at, sequence, id).

    Every filter is an equality (or IN) on a column with its own (column, occurred_at, id)
    index, and since/until bound occurred_at, the partition key, so PostgreSQL skips whole
    partitions outside the range (see migration 0001 for the index choice); it sorts only the
    entries of one instant by sequence (migration 0002).
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


def audit_log_before(
    queryset: QuerySet[AuditLog], *, occurred_at: datetime, sequence: int, id: int
) -> QuerySet[AuditLog]:
    """Entries strictly after the keyset position (occurred_at, sequence, id) in newest-first
    order.

    The redundant `occurred_at <= position` gives PostgreSQL an index range bound and prunes
    newer partitions; the OR then drops the ties already seen."""
    return queryset.filter(
        Q(occurred_at__lte=occurred_at),
        Q(occurred_at__lt=occurred_at) | Q(sequence__lt=sequence) | Q(sequence=sequence, id__lt=id),
    )


def audit_log_search(queryset: QuerySet[AuditLog], *, term: str) -> QuerySet[AuditLog]:
    """`queryset` narrowed to the entries a reviewer's search term names, in its order.

    A UUID is a task id or an event id. Anything else is a correlation id, a user id, a user's
    username or e-mail (case-insensitive, exact), or words of a task's title (each a prefix, all
    required; the SEARCH_MATCH_LIMIT most recently updated matching tasks). Names and titles are
    resolved to ids on the user and task tables first, so every condition on the audit log is an
    equality on a column with its own (column, occurred_at, id) index (migration 0001); deleted
    users and tasks are found by their ids only.

    Never one OR across columns: under "newest first, LIMIT 50" PostgreSQL answers it by walking
    the time index and filtering, which reads the whole log when nothing matches (1.4 s at a
    million rows; bench scenario 9). The single-value conditions that match nothing are dropped
    first (one index probe each). One condition left is a plain filter, read in order from its
    index whatever its size; several become a UNION ALL, which costs what they match.
    """
    term = term.strip()
    if not term:
        return queryset
    try:
        as_uuid = uuid.UUID(term)
    except ValueError:
        values = [Q(correlation_id=term), *(Q(user_id=user_id) for user_id in [term, *_user_ids(term)])]
        conditions = [*_matching(values), *_task_ids(term)]
    else:
        conditions = _matching([Q(task_id=as_uuid), Q(event_id=as_uuid)])
    if not conditions:
        return queryset.none()
    return queryset.filter(conditions[0]) if len(conditions) == 1 else _any_of(queryset, conditions)


def _matching(conditions: list[Q]) -> list[Q]:
    """The conditions (each one value of one indexed column) that some entry meets."""
    return [condition for condition in conditions if AuditLog.objects.filter(condition).exists()]


def _user_ids(term: str) -> list[str]:
    users = get_user_model().objects.filter(Q(username__iexact=term) | Q(email__iexact=term))
    return [str(pk) for pk in users.order_by("-pk").values_list("pk", flat=True)[:SEARCH_MATCH_LIMIT]]


def _task_ids(term: str) -> list[Q]:
    """A condition on the tasks whose title has every word of `term` (as a prefix), if any has."""
    queries = search_queries(term)
    if queries is None:
        return []
    in_title = queries[1]
    tasks = Task.objects.filter(search_vector=in_title).order_by("-updated_at").values_list("id", flat=True)
    task_ids = list(tasks[:SEARCH_MATCH_LIMIT])
    return [Q(task_id__in=task_ids)] if task_ids else []


def _any_of(queryset: QuerySet[AuditLog], conditions: list[Q]) -> QuerySet[AuditLog]:
    """Entries matching any of `conditions`, in `queryset`'s order: one branch per condition,
    each without the rows of the branches before it, combined with UNION ALL."""
    ordering = queryset.query.order_by or queryset.model._meta.ordering
    branches, before = [], Q()
    for condition in conditions:
        branch = queryset.filter(condition).order_by()  # the union is ordered, not its branches
        branches.append(branch.exclude(before) if before else branch)
        before |= condition
    return branches[0].union(*branches[1:], all=True).order_by(*ordering)


def audit_users_by_id(user_ids: Iterable[str]) -> dict[str, Any]:
    """The users that entries' `user_id` strings name, by that string, in one query. A value
    that is not a user's id (an invalid record's, a deleted user's) is not in the result."""
    pks = {int(value) for value in user_ids if value.isascii() and value.isdigit() and len(value) < 19}
    if not pks:
        return {}
    users = get_user_model().objects.filter(pk__in=pks).only("pk", "username", "email")
    return {str(user.pk): user for user in users}
