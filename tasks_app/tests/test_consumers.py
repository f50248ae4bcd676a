"""The events websocket in-process, through the project's whole ASGI stack (origin check,
session and token auth, routing) on the in-memory channel layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from tasks_app import events, presence
from tasks_app.consumers import CLOSE_UNAVAILABLE
from vframe_search.asgi import application

# database_sync_to_async closes "obsolete" connections, which on PostgreSQL includes the
# one holding a test's transaction: these tests commit for real and are flushed after.
pytestmark = pytest.mark.django_db(transaction=True)


def _socket(path: str = "/ws/v1/events/", headers=None) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=headers or [])


def _token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def run(scenario) -> None:
    async_to_sync(scenario)()


def test_anonymous_socket_is_refused(user):
    async def scenario():
        connected, _ = await _socket().connect()
        assert not connected
        connected, _ = await _socket("/ws/v1/events/?token=not-a-token").connect()
        assert not connected

    run(scenario)


def test_token_socket_gets_its_own_task_events_only(user, other):
    mine_token, their_token = _token(user), _token(other)

    async def scenario():
        mine = _socket(f"/ws/v1/events/?token={mine_token}")
        theirs = _socket(headers=[(b"authorization", f"Token {their_token}".encode())])
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        assert await mine.receive_json_from() == {"event": "hello", "user": "curator", "staff": False}
        assert (await theirs.receive_json_from())["user"] == "other"

        # A task thread (inline mode) emits: the event crosses into the server's loop.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: events.emit("progress", task_id="t1", task_name="test", user_id=user.pk, current=1, total=2, message=""))
        event = await mine.receive_json_from(timeout=5)
        assert (event["event"], event["task_id"], event["current"], event["total"]) == ("progress", "t1", 1, 2)
        assert await theirs.receive_nothing(timeout=0.2)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_staff_socket_gets_every_task_once(user, staff):
    token = _token(staff)

    async def scenario():
        sock = _socket(f"/ws/v1/events/?token={token}")
        assert (await sock.connect())[0]
        assert (await sock.receive_json_from())["staff"] is True
        await get_channel_layer().group_send(events.user_group(user.pk), {"type": events.MESSAGE_TYPE, "event": {"event": "x"}})
        events.emit("finished", task_id="t2", task_name="test", user_id=staff.pk, result=None)
        assert (await sock.receive_json_from(timeout=5))["task_id"] == "t2"
        assert await sock.receive_nothing(timeout=0.2)  # the owner group's copy does not reach staff twice
        await sock.disconnect()

    run(scenario)


def test_browser_socket_uses_the_session_and_must_come_from_an_allowed_origin(client, user):
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        sock = _socket(headers=[(b"cookie", cookie), (b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")])
        assert (await sock.connect())[0]
        assert (await sock.receive_json_from())["user"] == "curator"
        [member] = presence.presence_store().members(presence.CLIENT)
        assert (member["user"], member["auth"]) == ("curator", "session")
        await sock.disconnect()
        assert presence.presence_store().members(presence.CLIENT) == []

        foreign = _socket(headers=[(b"cookie", cookie), (b"origin", b"http://evil.example")])
        assert not (await foreign.connect())[0]

    run(scenario)


def test_ping_and_junk(user):
    token = _token(user)

    async def scenario():
        sock = _socket(f"/ws/v1/events/?token={token}")
        await sock.connect()
        await sock.receive_json_from()
        await sock.send_json_to({"action": "ping"})
        assert await sock.receive_json_from() == {"event": "pong"}
        await sock.send_to(text_data="{not json")
        assert (await sock.receive_json_from())["event"] == "error"
        await sock.send_json_to({"action": "rm"})
        assert (await sock.receive_json_from())["event"] == "error"
        await sock.disconnect()

    run(scenario)


def test_unreachable_redis_layer_says_why_and_closes(user, settings):
    from tests.harness import closed_port_redis_url

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [closed_port_redis_url()]}}}
    token = _token(user)

    async def scenario():
        sock = _socket(f"/ws/v1/events/?token={token}")
        assert (await sock.connect(timeout=10))[0]
        message = await sock.receive_json_from(timeout=10)
        assert message["event"] == "error" and "unavailable" in message["message"]
        assert (await sock.receive_output(timeout=5)) == {"type": "websocket.close", "code": CLOSE_UNAVAILABLE}

    run(scenario)
