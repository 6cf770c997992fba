"""The baseline of the REST scenario: the cheapest authenticated DRF view on the same stack.

Same middleware, JWT authentication (which reads the user from the database), JSON parser and
renderer as the task API; no business logic and no write. What the task API costs beyond this is
what our code adds.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class TrivialApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True, "user": request.user.pk})

    def post(self, request: Request) -> Response:
        body: Any = request.data
        return Response({"ok": True, "user": request.user.pk, "keys": sorted(body) if isinstance(body, dict) else []})
