"""The audit log in Django admin: read-only for everyone, superusers included."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from audit_app.models import AuditLog
from kafka_bridge.schemas import EVENT_TYPES
from kafka_bridge.topics import all_topic_names


def audit_trail_admin_url(task_id: uuid.UUID | str) -> str:
    """The admin changelist of one task's audit trail, for links from other admin pages:
    `/admin/audit_app/auditlog/?task_id=<task id>`."""
    return f"{reverse('admin:audit_app_auditlog_changelist')}?task_id={task_id}"


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results; the planner's estimate for large ones, where count(*)
    over millions of rows would make every admin page slow (the page count is then approximate)."""

    exact_up_to = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None:
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


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "event_type_or_invalid", "topic", "user_id", "task_id", "correlation_id")
    list_filter = (EventTypeFilter, TopicFilter, ("occurred_at", admin.DateFieldListFilter))
    search_help_text = "Exact user id, task id, event id or correlation id."
    search_fields = ("=user_id", "=correlation_id")  # task and event ids: see get_search_results
    ordering = ("-occurred_at", "-id")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    fields = (
        "event_id",
        "event_type",
        "topic",
        "kafka_partition",
        "kafka_offset",
        "user_id",
        "task_id",
        "correlation_id",
        "occurred_at",
        "received_at",
        "error",
        "headers_pretty",
        "envelope_pretty",
        "raw_value_text",
    )
    readonly_fields = fields

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
        # Exact matches only, each served by an index; a UUID may be a task id or an event id
        # (a non-UUID term must not reach a uuid column, PostgreSQL would refuse it).
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(user_id=term) | Q(correlation_id=term)
        try:
            as_uuid = uuid.UUID(term)
        except ValueError:
            pass
        else:
            condition |= Q(task_id=as_uuid) | Q(event_id=as_uuid)
        return queryset.filter(condition), False

    @admin.display(description="type", ordering="event_type")
    def event_type_or_invalid(self, entry: AuditLog) -> str:
        return entry.event_type or "(not an event)"

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
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)
