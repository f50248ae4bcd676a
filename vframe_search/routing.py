"""Websocket routes (task events arrive with the live-updates issue)."""

from __future__ import annotations

websocket_urlpatterns: list = []
