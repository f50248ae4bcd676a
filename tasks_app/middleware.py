"""Websocket authentication like the API's: the session cookie, or a DRF token.

Browsers authenticate with their session cookie (Channels' AuthMiddlewareStack sets
``scope["user"]``). API clients pass their token as ``?token=<key>`` or as an
``Authorization: Token <key>`` header; this middleware resolves it when the session
did not give a user, and records which way the client came in (``scope["auth_method"]``).
"""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse, urlsplit

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings


def _token_user(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


_user_for_token = database_sync_to_async(_token_user)


@database_sync_to_async
def current_user(scope):
    """The user the socket's credentials give now, or None: its token looked up again,
    or its session read again from the store (gone after a logout, refused after a
    password change or deactivation, as Django's own session check does)."""
    if scope.get("auth_method") == "token":
        key = _token_from_scope(scope)
        return _token_user(key) if key else None
    session = scope.get("session")
    if session is None or not session.session_key:
        return None
    from django.contrib.auth import get_user

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session.session_key)
    user = get_user(SimpleNamespace(session=store))
    return user if user.is_authenticated and user.is_active else None


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
    """Origin check for browsers, as Django's CSRF check does it for forms: the page must
    come from the host and port the socket connects to (and that host be in
    ALLOWED_HOSTS), or from one of CSRF_TRUSTED_ORIGINS. Another service on the same
    host but another port is another origin.

    Clients that send no Origin pass: every browser sends ``Origin`` on a websocket
    handshake, and only a browser could be tricked into using its cookie for another
    site, so a handshake without ``Origin`` is a script (which still has to
    authenticate) rather than a cross-site attack. Channels' own
    AllowedHostsOriginValidator refuses it, which would shut out the API clients the
    events socket is meant for.
    """

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin")
        if origin is None or self.valid_for(urlparse(origin.decode("latin1")), headers.get(b"host", b"").decode("latin1")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def valid_for(self, origin, host: str) -> bool:
        """Whether a page of ``origin`` may open a socket on ``host`` (the Host header)."""
        if f"{origin.scheme}://{origin.netloc}".lower() in {o.rstrip("/").lower() for o in settings.CSRF_TRUSTED_ORIGINS}:
            return True
        if not self.validate_origin(origin):  # the host is one of ALLOWED_HOSTS
            return False
        try:
            return (origin.hostname, origin.port) == _host_port(host)
        except ValueError:  # a port that is not a number
            return False


def _host_port(host: str) -> tuple[str | None, int | None] | None:
    """(host, port) of a Host header; None when there is none."""
    if not host:
        return None
    parts = urlsplit("//" + host)
    return (parts.hostname, parts.port)


def browser_origin_validator(app):
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(app, allowed)
