"""Read-only admin views of the outbox and the processed-event ids (for operators)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from kafka_bridge.models import OutboxEvent, OutboxPending, ProcessedEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("published", "Published"), ("rejected", "Rejected by Kafka")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "pending":
            return queryset.filter(is_pending=True)
        if self.value() == "published":
            return queryset.filter(is_pending=False, rejected_at__isnull=True)
        if self.value() == "rejected":
            return queryset.filter(rejected_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "topic", "key", "created_at", "state", "attempts", "last_error")
    list_filter = ("topic", "event_type", StateFilter)
    search_fields = ("=event_id", "=key")
    date_hierarchy = "created_at"
    readonly_fields = [*(field.name for field in OutboxEvent._meta.fields), "state"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        pending = OutboxPending.objects.filter(event=OuterRef("pk"))
        return super().get_queryset(request).annotate(is_pending=Exists(pending))

    @admin.display(description="state")
    def state(self, obj: OutboxEvent) -> str:
        if obj.is_pending:  # type: ignore[attr-defined]
            return "pending"
        return "rejected" if obj.rejected_at else "published"


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(ReadOnlyAdmin):
    list_display = ("group", "event_id", "processed_at")
    list_filter = ("group",)
    search_fields = ("=event_id",)
    readonly_fields = [field.name for field in ProcessedEvent._meta.fields]
