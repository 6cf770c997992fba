"""The recurrence REST API: rule preview and a task's upcoming occurrences (DESIGN.md section 5)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.query import DocumentedQueryMixin
from recurrence_app.selectors import recurrence_preview, task_upcoming_occurrences
from recurrence_app.serializers import (
    OccurrencesOutputSerializer,
    OccurrencesQuerySerializer,
    PreviewInputSerializer,
    PreviewOutputSerializer,
)
from recurrence_rules.occurrences import MAX_PREVIEW
from tasks_app import docs
from tasks_app.representations import isoformat
from tasks_app.selectors import task_get


class RecurrencePreviewApi(DocumentedQueryMixin, APIView):
    @extend_schema(
        operation_id="recurrence_preview",
        tags=["recurrence"],
        summary="Preview the occurrences of a recurrence rule",
        description="Expands the rule in `timezone` on local wall-clock time (DST-safe) from `due_at`, the "
        "first occurrence. Invalid rules get a message naming the wrong part in `fields.recurrence_rule`.",
        request=PreviewInputSerializer,
        responses={200: PreviewOutputSerializer, **docs.errors(400, 401)},
        examples=[
            OpenApiExample(
                "every other week",
                request_only=True,
                value={
                    "recurrence_rule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=8",
                    "due_at": "2026-12-01T09:00:00+01:00",
                    "timezone": "Europe/Berlin",
                    "count": 3,
                },
            ),
            OpenApiExample(
                "every other week",
                response_only=True,
                value={
                    "occurrences": [
                        "2026-12-01T09:00:00+01:00",
                        "2026-12-03T09:00:00+01:00",
                        "2026-12-15T09:00:00+01:00",
                    ],
                    "text": "every 2 weeks on Tuesday and Thursday, 8 times",
                    "ends": True,
                    "recurrence_rule": "FREQ=WEEKLY;INTERVAL=2;COUNT=8;BYDAY=TU,TH",
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = PreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(recurrence_preview(**serializer.validated_data))


class TaskOccurrencesApi(DocumentedQueryMixin, APIView):
    @extend_schema(
        operation_id="task_occurrences",
        tags=["recurrence"],
        summary="The next occurrences of a recurring task",
        description="The next `count` due times of the task's series after this task (each assumed completed "
        "when due). Another user's task is a 404.",
        parameters=[
            OpenApiParameter(
                "count",
                {"type": "integer", "minimum": 1, "maximum": MAX_PREVIEW},
                description="How many (1-100, default 10).",
            ),
        ],
        responses={200: OccurrencesOutputSerializer, **docs.errors(400, 401, 404)},
    )
    def get(self, request: Request, task_id: str) -> Response:
        query = OccurrencesQuerySerializer(data=request.query_params.dict())  # `?count=` is a 400, not 10
        query.is_valid(raise_exception=True)
        task = task_get(user=request.user, task_id=task_id)
        upcoming = task_upcoming_occurrences(task=task, count=query.validated_data["count"])
        occurrences = [isoformat(moment, moment.tzinfo) for moment in upcoming.occurrences]
        return Response({"occurrences": occurrences, "text": upcoming.text})
