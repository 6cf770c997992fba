"""`/mcp` in the web process's ASGI application: Streamable HTTP, stateless, JSON responses.

Requests to `/mcp` are answered here, every other one by Django. Stateless: each POST gets a
fresh transport and session manager (the SDK's stateless mode), so any web replica can answer any
request, and nothing depends on the server's lifespan events (Channels' router does not forward
them). JSON responses rather than SSE streams: every tool answers at once.

Around the SDK, in order: the CORS policy of the REST API (`CORS_ALLOWED_ORIGINS`, preflight
answered before authentication), the correlation id (X-Request-ID), the Host check of
ALLOWED_HOSTS (against DNS rebinding), bearer authentication (401 with WWW-Authenticate), the
REST API's per-user rate limit (429 with Retry-After, DESIGN.md section 4), POST only (405).
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.middleware.cors import CORSMiddleware

from core.correlation import HEADER as REQUEST_ID_HEADER
from core.correlation import clean_incoming, correlation_scope
from core.errors import error_body
from core.throttling import throttle_wait, throttled_response
from mcp_app.auth import Refusal, authenticate, challenge
from mcp_app.context import Caller, current_caller
from mcp_app.server import build_server

Scope = dict[str, Any]
ASGIApp = Any
PATHS = frozenset({"/mcp", "/mcp/"})


def mount(django_app: ASGIApp, server: Server | None = None) -> ASGIApp:
    """An ASGI app that serves `/mcp` and passes everything else to `django_app`."""
    endpoint = CORSMiddleware(
        McpEndpoint(server or build_server()),
        allow_origins=settings.CORS_ALLOWED_ORIGINS,
        allow_methods=["POST"],
        allow_headers=["authorization", "content-type", "mcp-protocol-version", "mcp-session-id", "x-request-id"],
        expose_headers=["mcp-session-id", "retry-after", "www-authenticate", "x-request-id"],
        max_age=600,
    )

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in PATHS:
            await endpoint(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return app


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _allowed_host(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:  # as Django's own HttpRequest.get_host()
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


class McpEndpoint:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        headers = _headers(scope)
        correlation_id = clean_incoming(headers.get(REQUEST_ID_HEADER.lower()))
        with correlation_scope(correlation_id) as bound:
            await self.handle(scope, receive, _with_request_id(send, bound), headers)

    async def handle(self, scope: Scope, receive: Any, send: Any, headers: dict[str, str]) -> None:
        host = headers.get("host", "")
        if not _allowed_host(host):
            await _answer(send, 400, error_body("bad_request", "The Host header is not one of ALLOWED_HOSTS."))
            return
        base_url = f"{scope.get('scheme', 'http')}://{host}"
        user = await sync_to_async(authenticate, thread_sensitive=False)(headers.get("authorization"))
        if isinstance(user, Refusal):
            await _answer(send, 401, user.body, {"www-authenticate": challenge(user, base_url=base_url)})
            return
        wait = await sync_to_async(throttle_wait, thread_sensitive=False)(_throttle_request(scope, user))
        if wait is not None:
            await _send_response(send, throttled_response(wait))
            return
        if scope["method"] != "POST":
            # Stateless: no server-to-client stream to GET and no session to DELETE.
            message = "Send MCP messages with POST; this server keeps no sessions or streams."
            await _answer(send, 405, error_body("method_not_allowed", message), {"allow": "POST"})
            return
        token = current_caller.set(Caller(user=user, scheme=scope.get("scheme", "http"), host=host))
        try:
            manager = StreamableHTTPSessionManager(
                app=self.server,
                stateless=True,
                json_response=True,
                max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            )
            async with manager.run():
                await manager.handle_request(scope, receive, send)
        finally:
            current_caller.reset(token)


def _throttle_request(scope: Scope, user: Any) -> HttpRequest:
    """What the REST throttles read: the user, and the client address for anonymous scopes."""
    request = HttpRequest()
    request.user = user
    client = scope.get("client")
    request.META["REMOTE_ADDR"] = client[0] if client else ""
    return request


def _with_request_id(send: Any, correlation_id: str) -> Any:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [*message.get("headers", []), (b"x-request-id", correlation_id.encode("latin-1"))],
            }
        await send(message)

    return wrapped


async def _send_response(send: Any, response: HttpResponse) -> None:
    raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    raw_headers.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": raw_headers})
    await send({"type": "http.response.body", "body": response.content})


async def _answer(send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
