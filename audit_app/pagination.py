"""Keyset ("cursor") pagination of the audit log, newest first.

The cursor is an opaque token holding the (occurred_at, sequence, id) of the last entry of the
page (the list's order, audit_app/selectors.py), so each page is an index range scan however
deep the client pages, and entries arriving meanwhile never shift or repeat rows (unlike
offsets). Only a `next` link is given: audit trails are read from the newest entry backwards.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from audit_app.models import AuditLog
from audit_app.selectors import audit_log_before


def encode_cursor(entry: AuditLog) -> str:
    position = json.dumps([entry.occurred_at.isoformat(), entry.sequence, entry.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _is_bigint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def decode_cursor(token: str) -> tuple[datetime, int, int]:
    """The position in `token`; ValueError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        occurred_at, sequence, entry_id = json.loads(raw)
        moment = datetime.fromisoformat(occurred_at)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc
    if moment.tzinfo is None or not _is_bigint(sequence) or not _is_bigint(entry_id):
        raise ValueError("invalid cursor")
    return moment, sequence, entry_id


class AuditCursorPagination(BasePagination):
    cursor_query_param = "cursor"
    limit_query_param = "limit"
    default_limit = 50
    max_limit = 200

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= self.max_limit:
            raise ValidationError({self.limit_query_param: [f"Must be an integer from 1 to {self.max_limit}."]})
        return limit

    def paginate_queryset(self, queryset: QuerySet[AuditLog], request: Request, view: Any = None) -> list[AuditLog]:
        limit = self._limit(request)
        token = request.query_params.get(self.cursor_query_param)
        if token:
            try:
                occurred_at, sequence, entry_id = decode_cursor(token)
            except ValueError:
                raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
            queryset = audit_log_before(queryset, occurred_at=occurred_at, sequence=sequence, id=entry_id)
        rows = list(queryset[: limit + 1])
        self.next_url = None
        if len(rows) > limit:
            rows = rows[:limit]
            self.next_url = replace_query_param(
                request.build_absolute_uri(), self.cursor_query_param, encode_cursor(rows[-1])
            )
        return rows

    def get_paginated_response(self, data: list[dict[str, Any]]) -> Response:
        return Response({"next": self.next_url, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "The `next` link's cursor: continue after the last entry seen.",
                "schema": {"type": "string"},
            },
            {
                "name": self.limit_query_param,
                "in": "query",
                "required": False,
                "description": f"Entries per page, 1 to {self.max_limit} (default {self.default_limit}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
        ]
