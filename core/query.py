"""Query parameters exactly as the OpenAPI document states them (DESIGN.md section 4).

`comma_list_pattern` builds the one regular expression that both the schema publishes and the
server checks a comma-list parameter against; values are matched with `re.search`, as JSON
Schema validators match `pattern`. `DocumentedQueryMixin` refuses, with a 400 naming each, query
parameters the operation's OpenAPI description does not list: the document is the one place
that says which parameters exist.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")

# The end of a schema pattern. Python's `$` also matches before a final newline, ECMA's does not:
# with the lookahead both mean the end of the value, so a generator never adds a newline (which
# in a header is a malformed request) and every client's validator agrees with the server's.
END = r"(?!\n)$"


def comma_list_pattern(item: str, *, max_items: int) -> str:
    """1 to `max_items` `item`s separated by commas (spaces around a comma allowed), no blanks."""
    return rf"^{item}( *, *{item}){{0,{max_items - 1}}}{END}"


def matches(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


_document: dict[str, Any] | None = None
# drf-spectacular's generator is not thread-safe: the first requests of a process, served in
# threads at once, must not build the document side by side.
_document_lock = threading.Lock()


def openapi_document() -> dict[str, Any]:
    """The document `/api/schema/` serves, built once per process (about a second)."""
    global _document
    if _document is None:
        with _document_lock:
            if _document is None:
                from drf_spectacular.generators import SchemaGenerator

                _document = SchemaGenerator().get_schema(request=None, public=True)
    return _document


def reset_openapi_document() -> None:
    """Forget the built document (tests that change the URLconf or build it again)."""
    global _document
    with _document_lock:
        _document = None
    _query_parameters.cache_clear()


@cache
def _query_parameters() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {
        (path, method.upper()): {
            p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p["in"] == "query"
        }
        for path, operations in openapi_document()["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict)
    }


def documented_query_parameters(request: Request) -> dict[str, dict[str, Any]] | None:
    """The query parameters (name → schema) the document lists for this request's operation;
    None for an operation it does not describe (an unsupported method, answered with 405)."""
    match = request.resolver_match
    if match is None:
        return None
    path = "/" + _CONVERTER.sub(r"{\1}", match.route)
    return _query_parameters().get((path, request.method))


class DocumentedQueryMixin:
    """For API views: a query parameter the operation does not document, or an empty value of
    an enumerated one (DRF's `format` among them), is a 400 naming it, after authentication (an
    anonymous caller learns first that it needs a token)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        documented = documented_query_parameters(request)
        if documented is None:
            return
        errors: dict[str, list[str]] = {}
        known = ", ".join(sorted(documented)) or "none"
        for name, value in request.query_params.items():
            if name not in documented:
                errors[name] = [f"Unknown query parameter; this operation takes: {known}."]
            elif value == "" and "enum" in documented[name]:
                # DRF and django-filter take an empty value for none; the enumeration has no "".
                errors[name] = ["This field may not be blank."]
        if errors:
            raise ValidationError(errors)
