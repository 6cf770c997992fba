"""Reads of tasks and tags. Every read is scoped to one user: another user's task is a 404."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404

from tasks_app.filters import TaskFilter, split_list
from tasks_app.models import SEARCH_CONFIG, Reminder, Tag, Task, TaskStatus

MAX_SEARCH_WORDS = 16
_WORD = re.compile(r"[^\W_]+")

_ORDERINGS = {
    "due_at": [F("due_at").asc(nulls_last=True)],
    "-due_at": [F("due_at").desc(nulls_last=True)],
    "priority": [F("priority_rank").asc()],
    "-priority": [F("priority_rank").desc()],
    "created_at": [F("created_at").asc()],
    "-created_at": [F("created_at").desc()],
    "updated_at": [F("updated_at").asc()],
    "-updated_at": [F("updated_at").desc()],
    "title": [Lower("title").asc()],
    "-title": [Lower("title").desc()],
}
# Ties are broken the same way everywhere, so limit/offset pages never repeat or skip a row.
_TIEBREAK = [F("created_at").desc(), F("id").asc()]


def search_queries(text: str) -> tuple[SearchQuery, SearchQuery] | None:
    """(any field, title only) tsqueries: every word of `text` as a prefix (`word:*`), all
    required. None when `text` has no word characters. Words are reduced to letters and digits,
    so user text can never inject tsquery syntax."""
    words = _WORD.findall(text.lower())[:MAX_SEARCH_WORDS]
    if not words:
        return None
    anywhere = " & ".join(f"{word}:*" for word in words)
    in_title = " & ".join(f"{word}:*A" for word in words)
    return (
        SearchQuery(anywhere, search_type="raw", config=SEARCH_CONFIG),
        SearchQuery(in_title, search_type="raw", config=SEARCH_CONFIG),
    )


def _base(user: AbstractBaseUser) -> QuerySet[Task]:
    return Task.objects.filter(owner=user).defer("search_vector")


def task_relations(tasks: Sequence[Task]) -> tuple[dict[uuid.UUID, list[str]], dict[uuid.UUID, list[Reminder]]]:
    """(tag names, reminders) of each of `tasks` by task id, in two queries for all of them.

    For a page of a list: `prefetch_related` builds a related manager and a queryset for every
    task and relation, a third of a 50-task page's time (bench scenario 4)."""
    ids = [task.pk for task in tasks]
    tags: dict[uuid.UUID, list[str]] = defaultdict(list)
    for task_id, name in Task.tags.through.objects.filter(task_id__in=ids).values_list("task_id", "tag__name"):
        tags[task_id].append(name)
    reminders: dict[uuid.UUID, list[Reminder]] = defaultdict(list)
    for reminder in Reminder.objects.filter(task_id__in=ids):
        reminders[reminder.task_id].append(reminder)
    return tags, reminders


def task_list(*, user: AbstractBaseUser, filters: Mapping[str, Any]) -> QuerySet[Task]:
    """The user's tasks matching `filters` (the query parameters of DESIGN.md section 4).

    With `q`, tasks matching every word (as a prefix, in title or description) are returned;
    without an explicit `ordering`, those with all words in the title come first, then by rank.
    Raises `ValidationError` (field → messages) for invalid parameters.
    """
    filterset = TaskFilter(data=filters, queryset=_base(user))
    if not filterset.is_valid():
        raise ValidationError(_messages(filterset))
    queryset = filterset.qs
    data = filterset.form.cleaned_data
    ordering = split_list(data.get("ordering") or "")

    if data.get("q"):
        queries = search_queries(data["q"])
        if queries is None:
            return queryset.none()
        anywhere, in_title = queries
        queryset = queryset.filter(search_vector=anywhere).annotate(
            title_match=ExpressionWrapper(Q(search_vector=in_title), output_field=BooleanField()),
            rank=SearchRank(F("search_vector"), anywhere),
        )
        if not ordering:
            return queryset.order_by(F("title_match").desc(), F("rank").desc(), *_TIEBREAK)

    order_by = [expression for item in ordering for expression in _ORDERINGS[item]]
    return queryset.order_by(*order_by, *_TIEBREAK)


def _messages(filterset: TaskFilter) -> dict[str, list[str]]:
    return {field: [str(message) for message in messages] for field, messages in filterset.form.errors.items()}


def task_get(*, user: AbstractBaseUser, task_id: uuid.UUID | str) -> Task:
    """The user's task `task_id`; `Http404` if it does not exist or belongs to someone else."""
    try:
        return _base(user).prefetch_related("tags", "reminders").get(pk=task_id)
    except (Task.DoesNotExist, ValidationError, ValueError) as exc:
        raise Http404("No such task.") from exc


def task_exists(*, user: AbstractBaseUser, task_id: uuid.UUID | str) -> bool:
    """Whether the user's task `task_id` still exists."""
    return _base(user).filter(pk=task_id).exists()


def tag_list_with_counts(*, user: AbstractBaseUser) -> QuerySet[Tag]:
    """The user's tags in use, by name, annotated with `task_count` and `open_task_count`."""
    return (
        Tag.objects.filter(owner=user)
        .annotate(
            task_count=Count("tasks", distinct=True),
            open_task_count=Count("tasks", filter=Q(tasks__status=TaskStatus.OPEN), distinct=True),
        )
        .filter(task_count__gt=0)
        .order_by("name")
    )
