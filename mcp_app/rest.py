"""REST's own request object for the paginators the tools share with REST.

`LimitOffsetPagination` and `AuditCursorPagination` read `limit`/`offset`/`cursor` from a DRF
request and build `next`/`previous` links from it; a tool hands them one built from its
arguments, so pages, caps, errors and links are exactly REST's.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from django.http import HttpRequest, QueryDict
from rest_framework.request import Request

from mcp_app.context import Caller


class ToolHttpRequest(HttpRequest):
    """A GET of `path?query` on the caller's scheme and host. The host was checked against
    ALLOWED_HOSTS by the `/mcp` mount (or is the stdio command's own), so it is not checked again."""

    def __init__(self, caller: Caller, path: str, query: str) -> None:
        super().__init__()
        self.method = "GET"
        self.path = self.path_info = path
        self.META = {"QUERY_STRING": query}
        self.GET = QueryDict(query)
        self._caller = caller

    def get_host(self) -> str:
        return self._caller.host

    def _get_scheme(self) -> str:
        return self._caller.scheme


def rest_get(caller: Caller, path: str, params: Mapping[str, str]) -> Request:
    request = Request(ToolHttpRequest(caller, path, urlencode(params)))
    request.user = caller.user
    return request
