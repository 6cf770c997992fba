"""The task REST API (DESIGN.md section 4): one thin view per resource, reads through selectors,
writes through services, output through `task_representation`."""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from core.pagination import LimitOffsetPagination
from core.query import DocumentedQueryMixin
from tasks_app import docs, selectors, services
from tasks_app.idempotency import HEADER, StoredResponse, request_fingerprint, run_idempotent
from tasks_app.models import Task
from tasks_app.representations import task_representation
from tasks_app.serializers import TaskInputSerializer


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes; anything unparsable is a 400, too
    large a 413 (DRF reads the stream directly, bypassing Django's own size check)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from exc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_IF_MATCH = re.compile(docs.IF_MATCH_PATTERN)
_VERSION = re.compile(r"[0-9]{1,12}")


def expected_version(request: Request, task: Task) -> int | None:
    """The version If-Match asks for (None without the header or with `*`). A list of ETags
    matches if any matches. A header of another form is a 400 (the documented pattern)."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    if not _IF_MATCH.fullmatch(header):
        raise exceptions.ValidationError({"If-Match": ['If-Match must be * or the ETag you read, such as "3".']})
    if header.strip() == "*":
        return None
    versions = [int(version) for version in _VERSION.findall(header)]
    return task.version if task.version in versions else versions[0]


TASKS_PATH = "/api/v1/tasks/"


def task_create_from_input(*, user: Any, data: Any, idempotency_key: str | None) -> StoredResponse:
    """`POST /tasks/` as one operation, for every door (REST and MCP): validate `data` with
    `TaskInputSerializer`, create the task, and record the response under `idempotency_key`.

    The key's scope and fingerprint are the REST request's, so a key sent through either door
    is one key: a retry through the other never creates a second task. A repeat whose task has
    been deleted since is a 410 (`task_deleted`): the first response would name a task that is
    not there, and a new task is what a new key is for."""

    def perform() -> StoredResponse:
        serializer = TaskInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        task = services.task_create(owner=user, **serializer.validated_data)
        location = f"{TASKS_PATH}{task.id}/"
        return StoredResponse(201, task_representation(task), {"ETag": task.etag, "Location": location})

    result = run_idempotent(
        user=user,
        key=idempotency_key,
        scope="task_create",
        # Only a key's repeats are compared with the first request.
        fingerprint=request_fingerprint("POST", TASKS_PATH, data) if idempotency_key is not None else "",
        perform=perform,
    )
    if result.replayed and not selectors.task_exists(user=user, task_id=result.body["id"]):
        raise ApplicationError(
            f"This {HEADER} already created task {result.body['id']}, which has been deleted since. Use a new key "
            "to create another task.",
            code="task_deleted",
            status=status.HTTP_410_GONE,
        )
    return result


def task_update_from_input(*, task: Task, data: Any, partial: bool, version: int | None) -> Task:
    """PATCH (`partial`) or PUT of `task` with the body `data`, for every door (REST and MCP).
    `version` is the one the caller last saw (If-Match): another one is a 412 before any
    validation, so a stale caller learns that first."""
    if version is not None and version != task.version:
        raise services.precondition_failed(task, version)
    serializer = TaskInputSerializer(data=data, partial=partial, context={"timezone": task.timezone})
    serializer.is_valid(raise_exception=True)
    return services.task_update(task=task, expected_version=version, **serializer.validated_data)


def task_list_page(request: Request) -> dict[str, Any]:
    """One page of `GET /tasks/` (count, next, previous, results) for the request's user and
    query parameters; REST and MCP answer with it."""
    queryset = selectors.task_list(user=request.user, filters=request.query_params)
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    tags, reminders = selectors.task_relations(page)
    results = [task_representation(task, tags=tags[task.pk], reminders=reminders[task.pk]) for task in page]
    return paginator.get_paginated_response(results).data


def tag_list_page(request: Request) -> dict[str, Any]:
    """One page of `GET /tags/` for the request's user; REST and MCP answer with it."""
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(selectors.tag_list_with_counts(user=request.user), request)
    return paginator.get_paginated_response(
        [{"name": tag.name, "task_count": tag.task_count, "open_task_count": tag.open_task_count} for tag in page]
    ).data


def task_response(task: Task, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
    return Response(task_representation(task), status=status_code, headers={"ETag": task.etag, **headers})


class TaskApiView(DocumentedQueryMixin, APIView):
    parser_classes = [LimitedJSONParser]


class TaskListCreateApi(TaskApiView):
    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_list",
        summary="List and search the caller's tasks",
        description=docs.LIST_DESCRIPTION,
        parameters=docs.LIST_PARAMETERS,
        responses={200: docs.ok("One page of tasks.", docs.TaskPageSerializer), **docs.errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        return Response(task_list_page(request))

    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_create",
        summary="Create a task",
        description=docs.CREATE_DESCRIPTION,
        parameters=[docs.IDEMPOTENCY_KEY],
        request=TaskInputSerializer,
        responses={
            201: docs.ok(
                "Created (or, with a repeated Idempotency-Key, the first response again). Headers: ETag, Location."
            ),
            **docs.errors(400, 401, 409, 410, 413, 415, 422),
        },
        examples=docs.CREATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        result = task_create_from_input(
            user=request.user, data=request.data, idempotency_key=request.headers.get(HEADER)
        )
        headers = {**result.headers, **({"Idempotent-Replayed": "true"} if result.replayed else {})}
        return Response(result.body, status=result.status, headers=headers)


class TaskDetailApi(TaskApiView):
    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_retrieve",
        summary="Read one task",
        description="The task with its reminders. The `ETag` header carries its version for `If-Match`.",
        parameters=[docs.TASK_ID],
        responses={200: docs.TASK_OK, **docs.errors(401, 404)},
    )
    def get(self, request: Request, task_id: str) -> Response:
        return task_response(selectors.task_get(user=request.user, task_id=task_id))

    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_partial_update",
        summary="Change some fields of a task",
        description=docs.PATCH_DESCRIPTION,
        parameters=[docs.TASK_ID, docs.IF_MATCH],
        request=TaskInputSerializer(partial=True),
        responses={
            200: docs.TASK_OK,
            **docs.errors(400, 401, 404, 412, 413, 415),
        },
        examples=docs.PATCH_EXAMPLES,
    )
    def patch(self, request: Request, task_id: str) -> Response:
        return self._update(request, task_id, partial=True)

    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_update",
        summary="Replace a task",
        description=docs.PUT_DESCRIPTION,
        parameters=[docs.TASK_ID, docs.IF_MATCH],
        request=TaskInputSerializer,
        responses={
            200: docs.TASK_OK,
            **docs.errors(400, 401, 404, 412, 413, 415),
        },
    )
    def put(self, request: Request, task_id: str) -> Response:
        return self._update(request, task_id, partial=False)

    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_destroy",
        summary="Delete a task",
        description="Deletes the task and cancels its pending reminders. `If-Match` guards against deleting a "
        "version you have not seen (412).",
        parameters=[docs.TASK_ID, docs.IF_MATCH],
        responses={204: OpenApiResponse(description="Deleted."), **docs.errors(400, 401, 404, 412)},
    )
    def delete(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get(user=request.user, task_id=task_id)
        services.task_delete(task=task, expected_version=expected_version(request, task))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, task_id: str, *, partial: bool) -> Response:
        task = selectors.task_get(user=request.user, task_id=task_id)
        data = request.data  # parsed first: a body that is not JSON is a 400 whatever If-Match says
        version = expected_version(request, task)
        return task_response(task_update_from_input(task=task, data=data, partial=partial, version=version))


class TaskCompleteApi(TaskApiView):
    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_complete",
        summary="Mark a task completed",
        description=docs.COMPLETE_DESCRIPTION,
        parameters=[docs.TASK_ID],
        request=None,
        responses={200: docs.TASK_OK, **docs.errors(401, 404)},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get(user=request.user, task_id=task_id)
        return task_response(services.task_complete(task=task))


class TaskReopenApi(TaskApiView):
    @extend_schema(
        tags=["tasks"],
        operation_id="tasks_reopen",
        summary="Reopen a completed task",
        description=docs.REOPEN_DESCRIPTION,
        parameters=[docs.TASK_ID],
        request=None,
        responses={200: docs.TASK_OK, **docs.errors(401, 404)},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get(user=request.user, task_id=task_id)
        return task_response(services.task_reopen(task=task))


class TagListApi(TaskApiView):
    @extend_schema(
        tags=["tags"],
        operation_id="tags_list",
        summary="The caller's tags with task counts",
        description="Tags in use on the caller's tasks, by name, with how many tasks (and open tasks) carry each. "
        "Filter tasks by tag with `GET /api/v1/tasks/?tag=<name>`.",
        parameters=[docs.LIMIT, docs.OFFSET],
        responses={200: docs.ok("One page of tags.", docs.TagPageSerializer), **docs.errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        return Response(tag_list_page(request))
