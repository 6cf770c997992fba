"""Staff view of every notification record, with an action to send dead ones again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications_app.models import Notification, NotificationStatus
from notifications_app.services.notifications import notification_requeue


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "channel", "status", "attempts", "recipient", "created_at", "sent_at")
    list_filter = (
        "status",
        "channel",
        ("created_at", admin.DateFieldListFilter),
        ("sent_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "=id",
        "=task_id",
        "=reminder_id",
        "user__username",
        "user__email",
        "recipient",
        "provider_message_id",
    )
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = [field.name for field in Notification._meta.fields]
    actions = ("requeue_dead",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False

    @admin.action(description="Send selected dead notifications again", permissions=["change"])
    def requeue_dead(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        ids = queryset.filter(status=NotificationStatus.DEAD).values_list("id", flat=True)
        requeued = sum(notification_requeue(notification_id=notification_id) for notification_id in ids)
        self.message_user(request, f"{requeued} notification(s) queued to be sent again.", messages.SUCCESS)
