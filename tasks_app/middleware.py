"""Websocket authentication like the API's: the session cookie, or a DRF token.

Browsers authenticate with their session cookie (Channels' AuthMiddlewareStack sets
``scope["user"]``). API clients pass their token as ``?token=<key>`` or as an
``Authorization: Token <key>`` header; this middleware resolves it when the session
did not give a user, and records which way the client came in (``scope["auth_method"]``).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


def _token_from_scope(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin1").split()
            if len(parts) == 2 and parts[0].lower() == "token":
                return parts[1]
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    values = query.get("token")
    return values[0] if values else None


class TokenAuthMiddleware:
    """Sets ``scope["user"]`` from a DRF token when the session gave no user."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is not None and user.is_authenticated:
            scope = {**scope, "auth_method": "session"}
        else:
            key = _token_from_scope(scope)
            token_user = await _user_for_token(key) if key else None
            if token_user is not None:
                scope = {**scope, "user": token_user, "auth_method": "token"}
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """ALLOWED_HOSTS origin check for browsers; clients that send no Origin pass.

    Every browser sends ``Origin`` on a websocket handshake, and only a browser could be
    tricked into using its cookie for another site, so a handshake without ``Origin`` is
    a script (which still has to authenticate) rather than a cross-site attack.
    Channels' own AllowedHostsOriginValidator refuses it, which would shut out the API
    clients the events socket is meant for.
    """

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def browser_origin_validator(app):
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(app, allowed)
