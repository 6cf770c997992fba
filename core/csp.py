"""Content-Security-Policy for the HTML pages staff and integrators open: the admin and the API docs.

These pages hold a session cookie or a bearer token, so they may run, style and fetch only what
this origin serves: a script injected through user content, or a page edited to load Swagger UI
from a CDN again, is refused by the browser. Which paths carry the policy is the setting
`CONTENT_SECURITY_POLICY_PATHS` (path prefixes); a response that sets its own policy keeps it.

Django 5.2 has no CSP support of its own (6.0 adds one); this is the one header, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

# No 'unsafe-inline' and no 'unsafe-eval': the admin and our Swagger UI page (core/templates/
# core/api_docs.html) load every script and style from a file. `data:` images: Swagger UI's and
# the admin's stylesheets embed their icons as data URIs, which are not another origin.
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def applies_to(request: HttpRequest, response: HttpResponse) -> bool:
    """HTML answers under one of the configured path prefixes that have no policy of their own."""
    if HEADER in response or not response.get("Content-Type", "").startswith("text/html"):
        return False
    return request.path_info.startswith(tuple(settings.CONTENT_SECURITY_POLICY_PATHS))


class ContentSecurityPolicyMiddleware:
    """Adds `POLICY` to the HTML responses `applies_to` selects."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if applies_to(request, response):
            response[HEADER] = POLICY
        return response
