"""OAuth 2.0 protected-resource metadata (RFC 9728) for `/mcp`: which authorization server
issues the tokens it accepts. Public, like any well-known document."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def protected_resource_metadata(request: HttpRequest, resource_path: str = "") -> JsonResponse:
    """`/.well-known/oauth-protected-resource[/mcp]`: the `resource` is the URL the well-known
    path was derived from (RFC 9728 §3.3), the issuer that of the tokens (JWT_ISSUER)."""
    base = f"{request.scheme}://{request.get_host()}"
    return JsonResponse(
        {
            "resource": f"{base}{resource_path}" if resource_path else base,
            "authorization_servers": [settings.JWT_ISSUER],
            "bearer_methods_supported": ["header"],
            "resource_name": "Todo MCP server",
            "resource_documentation": f"{base}/api/docs/",
        }
    )
