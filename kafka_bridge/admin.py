"""Read-only admin views of the outbox and the processed-event ids (for operators)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from kafka_bridge.models import OutboxEvent, ProcessedEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "topic", "key", "created_at", "published_at", "attempts")
    list_filter = ("topic", "event_type", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("=event_id", "=key")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(ReadOnlyAdmin):
    list_display = ("group", "event_id", "processed_at")
    list_filter = ("group",)
    search_fields = ("=event_id",)
    readonly_fields = [field.name for field in ProcessedEvent._meta.fields]
