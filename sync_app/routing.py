"""WebSocket routing: origin check, then authentication, then the sync consumer."""

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from sync_app.auth import SyncAuthMiddleware
from sync_app.consumers import SyncConsumer

websocket_urlpatterns = [path("ws/sync/", SyncConsumer.as_asgi())]

# Origins are checked against ALLOWED_HOSTS (a handshake without an Origin header is refused too),
# which stops other sites from opening sockets with a visitor's session cookie.
websocket_application = AllowedHostsOriginValidator(SyncAuthMiddleware(URLRouter(websocket_urlpatterns)))
