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


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Published"), ("no", "Pending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(is_published=self.value() == "yes")
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "topic", "key", "created_at", "published", "attempts", "last_error")
    list_filter = ("topic", "event_type", PublishedFilter)
    search_fields = ("=event_id", "=key")
    date_hierarchy = "created_at"
    readonly_fields = [*(field.name for field in OutboxEvent._meta.fields), "published"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        pending = OutboxPending.objects.filter(event=OuterRef("pk"))
        return super().get_queryset(request).annotate(is_published=~Exists(pending))

    @admin.display(boolean=True, ordering="is_published", description="published")
    def published(self, obj: OutboxEvent) -> bool:
        return obj.is_published  # type: ignore[attr-defined]


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(ReadOnlyAdmin):
    list_display = ("group", "event_id", "processed_at")
    list_filter = ("group",)
    search_fields = ("=event_id",)
    readonly_fields = [field.name for field in ProcessedEvent._meta.fields]
