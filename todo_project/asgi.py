"""ASGI entry point: HTTP through Django (and `/mcp` through mcp_app), WebSockets through Channels
(sync_app)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")
# Django must be set up before anything imports models (the WebSocket routing does).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from core.gc_tuning import freeze_startup_objects  # noqa: E402
from mcp_app.asgi import mount as mount_mcp  # noqa: E402
from sync_app.routing import websocket_application  # noqa: E402

# `/mcp` (MCP over Streamable HTTP) is answered beside Django, in the same process.
application = ProtocolTypeRouter({"http": mount_mcp(django_asgi_app), "websocket": websocket_application})
# What importing the app created lives as long as the process: out of the collector's reach.
freeze_startup_objects()
