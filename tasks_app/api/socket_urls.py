"""Socket API routes, included at /api/v1/socket/."""

from __future__ import annotations

from django.urls import path

from .views import SocketViewSet

urlpatterns = [
    path("clients/", SocketViewSet.as_view({"get": "clients"}), name="socket-clients"),
]
