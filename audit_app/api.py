"""The audit log's REST API: a paginated query and a streaming NDJSON export (DESIGN.md section 7)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from audit_app.models import AuditLog
from audit_app.pagination import AuditCursorPagination
from audit_app.selectors import AuditFilters, audit_log_list
from core.query import DocumentedQueryMixin, comma_list_pattern
from kafka_bridge.topics import all_topic_names
from tasks_app import docs
from tasks_app.docs import ErrorSerializer

MAX_LIST_ITEMS = 50


# An event type such as task.created: no comma, no space, no NUL (PostgreSQL cannot hold it).
ACTION_PATTERN = comma_list_pattern(r"[^,\s\x00]{1,100}", max_items=MAX_LIST_ITEMS)


def topic_pattern() -> str:
    names = all_topic_names()
    return comma_list_pattern(f"({'|'.join(re.escape(name) for name in names)})", max_items=len(names))


def comma_list(*, pattern: str, message: str, **kwargs: Any) -> serializers.CharField:
    """`a,b,c` as sent, matching `pattern` (RegexValidator: the schema's pattern, matched as a
    JSON Schema validator matches it); `_items` splits it."""
    return serializers.CharField(trim_whitespace=False, validators=[RegexValidator(pattern, message)], **kwargs)


def _items(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",")) if value else ()


class AuditFilterSerializer(serializers.Serializer):
    # trim_whitespace=False: a value is checked as sent, as the schema checks it.
    user = serializers.CharField(
        required=False, max_length=255, trim_whitespace=False, help_text="Owner's user id (staff only)."
    )
    action = comma_list(
        required=False,
        pattern=ACTION_PATTERN,
        message=f"Give 1 to {MAX_LIST_ITEMS} event types, comma separated.",
        help_text=f"Event types such as task.created, comma separated (up to {MAX_LIST_ITEMS}).",
    )
    topic = comma_list(
        required=False,
        pattern=topic_pattern(),
        message="Give topics among " + ", ".join(all_topic_names()) + ", comma separated.",
        help_text="Kafka topics (" + ", ".join(all_topic_names()) + "), comma separated.",
    )
    task = serializers.UUIDField(required=False, help_text="Task id.")
    correlation_id = serializers.CharField(required=False, max_length=255, trim_whitespace=False)
    since = serializers.DateTimeField(required=False, help_text="Occurred at or after (ISO 8601).")
    # `until` at or before `since` is an empty range: no entries, not an error.
    until = serializers.DateTimeField(required=False, help_text="Occurred before (ISO 8601).")

    def filters(self) -> AuditFilters:
        data = self.validated_data
        return AuditFilters(
            user=data.get("user"),
            actions=_items(data.get("action")),
            topics=_items(data.get("topic")),
            task=data.get("task"),
            correlation_id=data.get("correlation_id"),
            since=data.get("since"),
            until=data.get("until"),
        )


class AuditLogSerializer(serializers.ModelSerializer):
    partition = serializers.IntegerField(source="kafka_partition")
    offset = serializers.IntegerField(source="kafka_offset")
    type = serializers.CharField(source="event_type", help_text="Event type; empty for a record that is not an event.")
    raw_value = serializers.SerializerMethodField(help_text="Base64 of a record that is not an event, else null.")

    class Meta:
        model = AuditLog
        fields = (
            "id",
            "event_id",
            "topic",
            "partition",
            "offset",
            "type",
            "user_id",
            "task_id",
            "correlation_id",
            "occurred_at",
            "received_at",
            "envelope",
            "headers",
            "error",
            "raw_value",
        )
        read_only_fields = fields

    def get_raw_value(self, entry: AuditLog) -> str | None:
        return base64.b64encode(bytes(entry.raw_value)).decode() if entry.raw_value is not None else None


# Found by schemathesis (tests/faults): bad filters answer 400, which the schema did not say.
INVALID_FILTERS = OpenApiResponse(
    response=ErrorSerializer, description="Invalid filters: the error shape with a message per field."
)


def _filtered(request: Request, *, newest_first: bool) -> QuerySet[AuditLog]:
    # A plain dict, not the QueryDict: DRF skips an empty optional value of form data, and the
    # schema allows none (`?action=` is a 400).
    serializer = AuditFilterSerializer(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return audit_log_list(actor=request.user, filters=serializer.filters(), newest_first=newest_first)


@extend_schema(tags=["audit"])
class AuditLogListApi(DocumentedQueryMixin, GenericAPIView):
    """Audit log entries, newest first: staff see all, others their own events."""

    serializer_class = AuditLogSerializer
    pagination_class = AuditCursorPagination
    filter_backends = ()

    @extend_schema(
        parameters=[AuditFilterSerializer],
        responses={200: AuditLogSerializer(many=True), 400: INVALID_FILTERS, **docs.errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(audit_log_page(request))


def audit_log_page(request: Request) -> dict[str, Any]:
    """One page of `GET /audit/` (newest first) for the request's user and query parameters;
    REST and MCP (`task_history`) answer with it."""
    paginator = AuditCursorPagination()
    page = paginator.paginate_queryset(_filtered(request, newest_first=True), request)
    return paginator.get_paginated_response(AuditLogSerializer(page, many=True).data).data


class NDJSONRenderer(BaseRenderer):
    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode() + b"\n"  # errors: one JSON line


EXPORT_CHUNK = 2000


def _line(entry: AuditLog) -> bytes:
    return json.dumps(AuditLogSerializer(entry).data, separators=(",", ":"), default=str).encode() + b"\n"


def _lines(queryset: QuerySet[AuditLog]) -> Iterator[bytes]:
    for entry in queryset.iterator(chunk_size=EXPORT_CHUNK):
        yield _line(entry)


async def _alines(queryset: QuerySet[AuditLog]) -> AsyncIterator[bytes]:
    async for entry in queryset.aiterator(chunk_size=EXPORT_CHUNK):
        yield _line(entry)


@extend_schema(tags=["audit"])
class AuditLogExportApi(DocumentedQueryMixin, GenericAPIView):
    """Every matching entry as NDJSON (one JSON object per line), oldest first, streamed.

    Rows are read through a server-side cursor in chunks, so memory stays flat however large the
    range. Under ASGI the stream is an async iterator (Django would otherwise buffer a sync one).
    """

    renderer_classes = (NDJSONRenderer, JSONRenderer)
    filter_backends = ()
    pagination_class = None

    @extend_schema(
        parameters=[AuditFilterSerializer],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One audit entry (as in the list) per line."
            ),
            400: INVALID_FILTERS,
            **docs.errors(401),
            404: OpenApiResponse(response=ErrorSerializer, description="`format` names no renderer (json, ndjson)."),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        queryset = _filtered(request, newest_first=False)
        is_asgi = isinstance(request._request, ASGIRequest)
        response = StreamingHttpResponse(
            _alines(queryset) if is_asgi else _lines(queryset), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = 'attachment; filename="audit-log.ndjson"'
        return response
