"""Staff views of tasks. Changes go through the services (so they send the domain signals like
any other change): the task form is read-only, and completing, reopening and deleting are
admin actions calling `task_complete`, `task_reopen` and `task_delete`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tasks_app import services
from tasks_app.models import IdempotencyKey, Reminder, Tag, Task


class ReminderInline(admin.TabularInline):
    model = Reminder
    extra = 0
    can_delete = False
    fields = ("id", "remind_at", "offset_minutes", "status", "fired_at", "late", "updated_at")
    readonly_fields = fields
    ordering = ("remind_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "status", "priority", "due_at", "timezone", "is_recurring", "updated_at")
    list_filter = ("status", "priority", "recurrence_mode", ("due_at", admin.DateFieldListFilter), "created_at")
    search_fields = ("title", "description", "owner__username", "owner__email", "=id")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (ReminderInline,)
    actions = ("complete_tasks", "reopen_tasks", "delete_tasks")
    readonly_fields = (
        "id",
        "owner",
        "title",
        "description",
        "status",
        "priority",
        "tag_names",
        "due_at",
        "timezone",
        "recurrence_rule",
        "recurrence_mode",
        "series_id",
        "previous_occurrence",
        "completed_at",
        "version",
        "created_at",
        "updated_at",
    )
    exclude = ("tags",)

    @admin.display(boolean=True, description="recurring")
    def is_recurring(self, task: Task) -> bool:
        return bool(task.recurrence_rule)

    @admin.display(description="tags")
    def tag_names(self, task: Task) -> str:
        return ", ".join(tag.name for tag in task.tags.all())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the delete_tasks action deletes through the service instead

    @admin.action(description="Mark selected tasks completed", permissions=["change"])
    def complete_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        for task in queryset:
            services.task_complete(task=task)
        self.message_user(request, f"Completed {queryset.count()} task(s).", messages.SUCCESS)

    @admin.action(description="Reopen selected tasks", permissions=["change"])
    def reopen_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        for task in queryset:
            services.task_reopen(task=task)
        self.message_user(request, f"Reopened {queryset.count()} task(s).", messages.SUCCESS)

    @admin.action(description="Delete selected tasks (cancels their reminders)", permissions=["change"])
    def delete_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        count = 0
        for task in list(queryset):
            services.task_delete(task=task)
            count += 1
        self.message_user(request, f"Deleted {count} task(s).", messages.SUCCESS)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "name", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "scope", "status", "response_status", "created_at", "expires_at")
    list_filter = ("scope", "status")
    search_fields = ("key", "user__username")
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
