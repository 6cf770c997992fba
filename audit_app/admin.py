"""The audit log in Django admin: read-only for everyone, superusers included.

A reviewer sees who (username and e-mail, linked to the user), which task (linked to it) and
which request (the correlation id, linked to every entry of that request), and searches by any
of them (`audit_log_search`). The table is partitioned by day and holds tens of millions of
rows, so every page is a few index lookups: users are read once per page, not per row; the
count is the planner's estimate; there is no date hierarchy and there are no facet counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from audit_app.models import AuditLog
from audit_app.selectors import NEWEST_FIRST, audit_log_search, audit_users_by_id
from kafka_bridge.schemas import EVENT_TYPES
from kafka_bridge.topics import all_topic_names


def audit_trail_admin_url(task_id: uuid.UUID | str) -> str:
    """The admin changelist of one task's audit trail, for links from other admin pages:
    `/admin/audit_app/auditlog/?task_id=<task id>`."""
    return f"{reverse('admin:audit_app_auditlog_changelist')}?task_id={task_id}"


def correlation_admin_url(correlation_id: str) -> str:
    """The admin changelist of every entry of one request (its correlation id)."""
    return f"{reverse('admin:audit_app_auditlog_changelist')}?{urlencode({'correlation_id': correlation_id})}"


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results; the planner's estimate for large ones, where count(*)
    over millions of rows would make every admin page slow (the page count is then approximate)."""

    # Counting 100,000 entries took ~1 s (bench scenario 9), twenty times the page itself.
    exact_up_to = 10_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.is_empty():  # an empty queryset has no SQL
            sql, params = query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate > self.exact_up_to:
                return estimate
        return super().count


class AuditChangeList(ChangeList):
    """Reads the users of a page's entries in one query: `user_id` is the envelope's text, not a
    foreign key, so `list_select_related` cannot join them."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = attach_users(list(self.result_list))


def attach_users(entries: list[AuditLog]) -> list[AuditLog]:
    users = audit_users_by_id({entry.user_id for entry in entries})
    for entry in entries:
        entry.user = users.get(entry.user_id)  # type: ignore[attr-defined]
    return entries


class _ChoicesFilter(admin.SimpleListFilter):
    """Choices from the registries, not `SELECT DISTINCT` over tens of millions of rows."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditLog]) -> QuerySet[AuditLog]:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value is not None else queryset


class EventTypeFilter(_ChoicesFilter):
    title = "type"
    parameter_name = "event_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in sorted(EVENT_TYPES)] + [("", "(not an event)")]


class TopicFilter(_ChoicesFilter):
    title = "topic"
    parameter_name = "topic"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in all_topic_names()]


class OccurredAtFilter(admin.DateFieldListFilter):
    """Django's date links plus "Yesterday", and a from/to form of whole days (in TIME_ZONE, UTC;
    both inclusive).
    Every choice bounds `occurred_at`, the partition key, so PostgreSQL reads only the days
    asked for. (No `date_hierarchy`: its links come from `SELECT DISTINCT date_trunc(...)` over
    every row.) The form's parameters share the links' `occurred_at__` prefix, so a link
    replaces a range and the form replaces a link."""

    template = "admin/audit_app/auditlog/occurred_at_filter.html"

    def __init__(
        self, field: Any, request: HttpRequest, params: dict, model: Any, model_admin: Any, field_path: str
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        yesterday = ("Yesterday", {self.lookup_kwarg_since: today - timedelta(days=1), self.lookup_kwarg_until: today})
        self.links = (*self.links[:2], yesterday, *self.links[2:])

    @property
    def parameter_from(self) -> str:
        return f"{self.field_path}__from"

    @property
    def parameter_to(self) -> str:
        return f"{self.field_path}__to"

    def expected_parameters(self) -> list[str]:
        return [*super().expected_parameters(), self.parameter_from, self.parameter_to]

    def day(self, name: str) -> date | None:
        values = self.used_parameters.get(name)
        if not values or not values[-1]:
            return None
        try:
            return date.fromisoformat(values[-1])
        except ValueError as exc:
            raise IncorrectLookupParameters(f"{name}: a date such as 2026-11-28") from exc

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditLog]) -> QuerySet[AuditLog]:
        form = (self.parameter_from, self.parameter_to)
        links = {key: values for key, values in self.used_parameters.items() if key not in form}
        try:
            queryset = queryset.filter(build_q_object_from_lookup_parameters(links))
        except (ValueError, ValidationError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        first, last = self.day(self.parameter_from), self.day(self.parameter_to)
        if first is not None:
            queryset = queryset.filter(occurred_at__gte=_start_of(first))
        if last is not None:
            queryset = queryset.filter(occurred_at__lt=_start_of(last + timedelta(days=1)))
        return queryset

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        yield from super().choices(changelist)
        others = changelist.get_query_string(remove=[self.field_generic])
        yield {
            "form": True,
            "hidden": parse_qsl(others.lstrip("?"), keep_blank_values=True),
            "from": self.day(self.parameter_from) or "",
            "to": self.day(self.parameter_to) or "",
        }


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "event_type_or_invalid", "topic", "user_link", "task_link", "correlation_link")
    list_filter = (EventTypeFilter, TopicFilter, ("occurred_at", OccurredAtFilter))
    search_help_text = "A username or e-mail, words of a task's title, or an event, task, correlation or user id."
    # Only makes the admin show the search box: `get_search_results` does the search.
    search_fields = ("user_id", "correlation_id")
    ordering = NEWEST_FIRST
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts would add a COUNT per filter choice over every matching row to each page view.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    fields = (
        "event_id",
        "event_type",
        "topic",
        "kafka_partition",
        "kafka_offset",
        "user_link",
        "task_link",
        "correlation_link",
        "occurred_at",
        "received_at",
        "error",
        "headers_pretty",
        "envelope_pretty",
        "raw_value_text",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("audit_app/admin.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditChangeList

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> AuditLog | None:
        entry = super().get_object(request, object_id, from_field)
        return attach_users([entry])[0] if entry is not None else None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}  # no bulk delete

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditLog], search_term: str
    ) -> tuple[QuerySet[AuditLog], bool]:
        return audit_log_search(queryset, term=search_term), False

    @admin.display(description="type", ordering="event_type")
    def event_type_or_invalid(self, entry: AuditLog) -> str:
        return entry.event_type or "(not an event)"

    @admin.display(description="user")
    def user_link(self, entry: AuditLog) -> str:
        user = getattr(entry, "user", None)
        if user is None:
            return entry.user_id or "-"  # not (or no longer) a user of ours
        opts = get_user_model()._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[user.pk])
        return format_html('<a href="{}">{}</a> <span class="audit-email">{}</span>', url, user.username, user.email)

    @admin.display(description="task")
    def task_link(self, entry: AuditLog) -> str:
        if entry.task_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:tasks_app_task_change", args=[entry.task_id]), entry.task_id
        )

    @admin.display(description="correlation id")
    def correlation_link(self, entry: AuditLog) -> str:
        if not entry.correlation_id:
            return "-"
        return format_html(
            '<a href="{}" title="Every entry of this request">{}</a>',
            correlation_admin_url(entry.correlation_id),
            entry.correlation_id,
        )

    @admin.display(description="envelope")
    def envelope_pretty(self, entry: AuditLog) -> str:
        return _pretty(entry.envelope)

    @admin.display(description="Kafka headers")
    def headers_pretty(self, entry: AuditLog) -> str:
        return _pretty(entry.headers)

    @admin.display(description="raw value")
    def raw_value_text(self, entry: AuditLog) -> str:
        if entry.raw_value is None:
            return "-"
        return format_html("<pre>{}</pre>", bytes(entry.raw_value).decode("utf-8", "backslashreplace"))


def _pretty(document: Any) -> str:
    if document is None:
        return "-"
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    # A class, not a style attribute: the admin's Content-Security-Policy refuses inline styles.
    return format_html('<pre class="audit-document">{}</pre>', text)
