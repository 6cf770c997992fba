"""WebSocket routing: admission (overload), origin check, authentication, then the sync consumer."""

from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from sync_app.admission import HandshakeAdmission
from sync_app.auth import SyncAuthMiddleware
from sync_app.ws.consumer import SyncConsumer

websocket_urlpatterns = [path("ws/sync/", SyncConsumer.as_asgi())]

# Origins are checked against ALLOWED_HOSTS and the front ends CORS lets call the API
# (CORS_ALLOWED_ORIGINS), and nothing else (a handshake without an Origin header is refused too),
# which stops other sites from opening sockets with a visitor's session cookie.
ALLOWED_ORIGINS = [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS]
# Admission comes first: under overload a handshake is refused before it costs anything.
websocket_application = HandshakeAdmission(
    OriginValidator(SyncAuthMiddleware(URLRouter(websocket_urlpatterns)), ALLOWED_ORIGINS)
)
