from django.urls import path

from mcp_app.auth import METADATA_PATH
from mcp_app.views import protected_resource_metadata

PREFIX = METADATA_PATH.lstrip("/")

urlpatterns = [
    path(PREFIX, protected_resource_metadata, name="oauth-protected-resource"),
    path(f"{PREFIX}/mcp", protected_resource_metadata, {"resource_path": "/mcp"}, name="oauth-protected-resource-mcp"),
]
