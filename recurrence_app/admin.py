"""Series in the admin: read-mostly. Staff can see where a chain stands and stop it; everything
else changes through the task (its rule), so the series and its tasks stay consistent."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from recurrence_app.models import Series
from recurrence_app.services import series_stop
from recurrence_rules.rules import describe_rule
from tasks_app.models import Task


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "description", "mode", "timezone", "generated_count", "last_due_at", "ended")
    list_filter = ("ended", "end_reason")
    search_fields = ("id", "owner__username", "owner__email")
    list_select_related = ("owner",)
    ordering = ("-updated_at",)
    readonly_fields = [field.name for field in Series._meta.fields] + ["description", "mode", "timezone"]
    actions = ["stop_series"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Series]:
        # The rule, mode and time zone are the chain's newest task's (stored once, on the task).
        newest = Task.objects.filter(series_id=OuterRef("pk")).order_by("-created_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                rule=Subquery(newest.values("recurrence_rule")[:1]),
                mode=Subquery(newest.values("recurrence_mode")[:1]),
                timezone=Subquery(newest.values("timezone")[:1]),
            )
        )

    @admin.display(description="rule")
    def description(self, series: Series) -> str:
        return describe_rule(series.rule) if getattr(series, "rule", "") else ""

    @admin.display(description="mode")
    def mode(self, series: Series) -> str:
        return getattr(series, "mode", None) or ""

    @admin.display(description="time zone")
    def timezone(self, series: Series) -> str:
        return getattr(series, "timezone", None) or ""

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
