"""Websocket consumers (transport only): task events for browsers and API clients."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import events, presence
from .middleware import current_user

logger = logging.getLogger(__name__)

# Close codes in the private range (4000-4999): the client can tell why it was dropped.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_RIGHTS_CHANGED = 4403
CLOSE_UNAVAILABLE = 4503

# A socket passes events on only while the credentials it opened with still hold:
# checked on every heartbeat, on request (a logout), and before passing an event on
# when the last check is older than this.
RECHECK_SECONDS = 2.0


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """Streams task events (started, progress, finished, failed, cancelled) to one client.

    Staff receive the events of every task, other users those of their own tasks. The
    client is listed in socket/clients/ while connected. Messages from the client:
    ``{"action": "ping"}`` is answered with ``{"event": "pong"}``.

    The subscriptions last only as long as the credentials: a socket whose session
    ended (logout, password change) or whose token was deleted, whose user was
    deactivated, closes with 4401; one whose user gained or lost staff rights closes
    with 4403 (reconnecting subscribes it to what it may see now).
    """

    groups_joined: list[str]
    _beat: asyncio.Task | None = None
    _ended = False

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)  # before accept: the handshake gets a 403
            return
        # Without Redis, task threads of this process hand their events to this loop.
        events.bind_server_loop(asyncio.get_running_loop())
        self.user_id, self.staff = user.pk, bool(user.is_staff)
        self.checked_at = time.monotonic()
        try:
            for group in [*events.groups_for(user), events.sockets_group(user.pk)]:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.append(group)
            self.presence_info = {
                "user": user.get_username(),
                "user_id": user.pk,
                "auth": self.scope.get("auth_method", "session"),
                "since": time.time(),
            }
            await sync_to_async(presence.presence_store().put, thread_sensitive=False)(presence.CLIENT, self.channel_name, self.presence_info)
        except Exception as exc:
            logger.warning("websocket of %s refused: channel layer or presence store unavailable", user, exc_info=True)
            # Accept only to say why: a refused handshake would read as "forbidden".
            await self.accept()
            await self.send_json({"event": "error", "message": f"Live updates are unavailable (Redis unreachable?): {type(exc).__name__}"})
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        await self.accept()
        self._beat = asyncio.create_task(self._heartbeat())
        await self.send_json({"event": "hello", "user": user.get_username(), "staff": bool(user.is_staff)})

    async def _heartbeat(self) -> None:
        put = sync_to_async(presence.presence_store().put, thread_sensitive=False)
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT_INTERVAL)
            if not await self._credentials_hold():
                return
            try:
                await put(presence.CLIENT, self.channel_name, self.presence_info)
            except Exception:
                logger.warning("presence heartbeat of websocket %s failed", self.channel_name, exc_info=True)

    async def _credentials_hold(self) -> bool:
        """Whether the session or token this socket opened with still gives its user,
        with the same rights; if not, the socket says why and closes."""
        if self._ended:
            return False
        self.checked_at = time.monotonic()
        try:
            user = await current_user(self.scope)
        except Exception:
            logger.warning("websocket %s: credentials not checked (database unavailable?)", self.channel_name, exc_info=True)
            return True  # as a request would, it waits for the database rather than guessing
        if user is None or user.pk != self.user_id:
            await self._end(CLOSE_UNAUTHENTICATED, "Signed out, deactivated, or the token was deleted: live updates stop here.")
        elif bool(user.is_staff) != self.staff:
            await self._end(CLOSE_RIGHTS_CHANGED, "Your rights changed: reconnect for the events you may see now.")
        return not self._ended

    async def _end(self, code: int, message: str) -> None:
        self._ended = True
        try:
            await self.send_json({"event": "closed", "message": message})
        finally:
            await self.close(code=code)

    async def credentials_changed(self, message: dict) -> None:
        """Asked to check the credentials now (type ``credentials.changed``, a logout)."""
        await self._credentials_hold()

    async def disconnect(self, code: int) -> None:
        if self._beat is not None:
            self._beat.cancel()
        for group in self.groups_joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("could not leave group %s", group, exc_info=True)
        if getattr(self, "presence_info", None) is not None:
            try:
                await sync_to_async(presence.presence_store().remove, thread_sensitive=False)(presence.CLIENT, self.channel_name)
            except Exception:
                logger.warning("could not unregister websocket %s", self.channel_name, exc_info=True)

    async def receive_json(self, content: Any, **kwargs) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action == "ping":
            await self.send_json({"event": "pong"})
        else:
            await self.send_json({"event": "error", "message": "Unknown action; this socket only streams task events (send {'action': 'ping'} to check it)."})

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:
            await self.send_json({"event": "error", "message": "Messages must be JSON."})

    async def task_event(self, message: dict) -> None:
        """A task event from the channel layer (type ``task.event``)."""
        if self._ended or (time.monotonic() - self.checked_at > RECHECK_SECONDS and not await self._credentials_hold()):
            return
        await self.send_json(message["event"])
