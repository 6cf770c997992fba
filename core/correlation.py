"""The correlation id that follows one request through logs, the outbox, Kafka and Celery.

It lives in a context variable so that threads, asyncio tasks, Celery jobs and Kafka handlers each
see their own. HTTP requests take it from `X-Request-ID` (when it is well-formed) or get a new one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
# Accept what proxies and clients commonly send; anything else could forge log lines.
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> None:
    _correlation_id.set(value)


@contextmanager
def correlation_scope(value: str | None) -> Iterator[str]:
    """Bind `value` (or a new id) for the duration of the block."""
    bound = value or new_correlation_id()
    token = _correlation_id.set(bound)
    try:
        yield bound
    finally:
        _correlation_id.reset(token)


@contextmanager
def correlation_scope_if_given(value: str | None) -> Iterator[str | None]:
    """Bind `value` for the duration of the block when there is one; otherwise keep the id
    current now (unlike `correlation_scope`, which would make a new one)."""
    if not value:
        yield get_correlation_id()
        return
    with correlation_scope(value) as bound:
        yield bound


def clean_incoming(value: str | None) -> str | None:
    if value and _VALID.match(value):
        return value
    return None


class CorrelationIdMiddleware:
    """Binds the request's correlation id and echoes it in the response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Set, not scoped: Django logs 4xx/5xx responses (django.request) after the middleware
        # chain returns, and those lines must carry the id too. The next request on this
        # thread or task replaces it, and `request_finished` clears it.
        correlation_id = clean_incoming(request.META.get(_META_KEY)) or new_correlation_id()
        set_correlation_id(correlation_id)
        request.correlation_id = correlation_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[HEADER] = correlation_id
        return response


@receiver(request_finished)
def _clear_correlation_id(**kwargs: object) -> None:
    set_correlation_id(None)
