"""Series in the admin: read-mostly. Staff can see where a chain stands and stop it; everything
else changes through the task (its rule), so the series and its tasks stay consistent."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from recurrence_app.models import Series
from recurrence_app.rules import describe_rule
from recurrence_app.services import series_stop


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "description", "mode", "timezone", "generated_count", "last_due_at", "ended")
    list_filter = ("ended", "mode", "end_reason")
    search_fields = ("id", "owner__username", "owner__email", "rule")
    list_select_related = ("owner",)
    ordering = ("-updated_at",)
    readonly_fields = [field.name for field in Series._meta.fields] + ["description"]
    actions = ["stop_series"]

    @admin.display(description="rule")
    def description(self, series: Series) -> str:
        return describe_rule(series.rule)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Series | None = None) -> bool:
        return False

    @admin.action(description="Stop the selected series (no more occurrences)")
    def stop_series(self, request: HttpRequest, queryset: QuerySet[Series]) -> None:
        stopped = 0
        for series in queryset.filter(ended=False):
            series_stop(series=series, reason="stopped_by_staff")
            stopped += 1
        self.message_user(request, f"Stopped {stopped} series.", messages.SUCCESS)
