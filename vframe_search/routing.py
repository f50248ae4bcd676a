"""Websocket routes: one endpoint streaming task events, authenticated like the API."""

from __future__ import annotations

from django.urls import path

from tasks_app.consumers import EventsConsumer
from tasks_app.middleware import TokenAuthMiddleware

websocket_urlpatterns: list = [
    # Session cookie (browsers, via AuthMiddlewareStack in asgi.py) or ?token= / Authorization: Token (API clients).
    path("ws/v1/events/", TokenAuthMiddleware(EventsConsumer.as_asgi()), name="ws-events"),
]
