"""`GET /api/v1/notifications/`: the caller's notification delivery records (DESIGN.md section 4)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.pagination import LimitOffsetPagination
from core.query import DocumentedQueryMixin, comma_list_pattern, matches
from notifications_app.models import Notification, NotificationStatus
from notifications_app.selectors import NotificationFilter, notification_list
from tasks_app import docs


class NotificationOutputSerializer(serializers.ModelSerializer):
    task = serializers.UUIDField(source="task_id", help_text="the task the reminder belongs to")
    reminder = serializers.UUIDField(source="reminder_id", help_text="the reminder that fired")

    class Meta:
        model = Notification
        fields = (
            "id",
            "task",
            "reminder",
            "channel",
            "status",
            "attempts",
            "last_error",
            "provider_message_id",
            "created_at",
            "updated_at",
            "sent_at",
            "delivered_at",
            "next_attempt_at",
        )
        extra_kwargs = {
            "status": {
                "help_text": "queued → sending → sent → delivered/bounced/complained; failed (a retry is "
                "scheduled at next_attempt_at), dead (given up; see last_error), skipped (no e-mail address)"
            },
            "attempts": {"help_text": "send attempts made so far"},
            "last_error": {"help_text": "why the last attempt failed, or why the record was skipped"},
        }


STATUS_PATTERN = comma_list_pattern(
    f"({'|'.join(NotificationStatus.values)})", max_items=len(NotificationStatus.values)
)
STATUS_MESSAGE = "status must be a comma-separated list of: " + ", ".join(NotificationStatus.values) + "."


@extend_schema_view(
    get=extend_schema(
        tags=["notifications"],
        operation_id="notifications_list",
        summary="List your reminder notifications",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                pattern=STATUS_PATTERN,
                description="Only records in these statuses (comma list), e.g. `dead` or `sent,delivered`.",
            )
        ],
        responses={200: NotificationOutputSerializer(many=True), **docs.errors(400, 401)},
    )
)
class NotificationListApi(DocumentedQueryMixin, ListAPIView):
    """The caller's notification records, newest first, filtered by `status` and `task`, paged with
    `limit`/`offset`."""

    serializer_class = NotificationOutputSerializer
    filterset_class = NotificationFilter

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Notification.objects.none()
        return notification_list(user=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(notification_page(request))


def notification_page(request: Request) -> dict[str, Any]:
    """One page of `GET /notifications/` for the request's user and query parameters (filter
    errors are REST's 400 field messages); REST and MCP answer with it."""
    # django-filter ignores an empty value; the schema does not allow one, so neither do we.
    blank = {
        name: ["This field may not be blank."] for name in ("status", "task") if request.query_params.get(name) == ""
    }
    if blank:
        raise ValidationError(blank)
    data = request.query_params.copy()
    if "status" in data:
        if not matches(STATUS_PATTERN, data["status"]):
            raise ValidationError({"status": [STATUS_MESSAGE]})
        data["status"] = ",".join(item.strip() for item in data["status"].split(","))
    filterset = NotificationFilter(data=data, queryset=notification_list(user=request.user))
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(filterset.qs, request)
    return paginator.get_paginated_response(NotificationOutputSerializer(page, many=True).data).data
