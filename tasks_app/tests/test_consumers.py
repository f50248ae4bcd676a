"""The events websocket in-process, through the project's whole ASGI stack (origin check,
session and token auth, routing) on the in-memory channel layer."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
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


def test_the_origin_must_match_the_host_and_port_it_connects_to(client, user, settings):
    client.force_login(user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    async def opens(origin: bytes, host: bytes) -> bool:
        sock = _socket(headers=[cookie, (b"origin", origin), (b"host", host)])
        connected, _ = await sock.connect()
        if connected:
            await sock.disconnect()
        return connected

    async def scenario():
        assert await opens(b"http://127.0.0.1:8000", b"127.0.0.1:8000")
        assert await opens(b"https://localhost", b"localhost")
        # Another service on the same host (another port) is another origin.
        assert not await opens(b"http://127.0.0.1:9999", b"127.0.0.1:8000")
        assert not await opens(b"http://127.0.0.1", b"127.0.0.1:8000")
        assert not await opens(b"http://localhost:8000", b"127.0.0.1:8000")
        assert not await opens(b"http://127.0.0.1:8000", b"")  # no Host header: nothing to compare with
        assert not await opens(b"http://127.0.0.1:8000", b"127.0.0.1:bad")
        # An origin trusted for cross-origin forms is trusted here too.
        settings.CSRF_TRUSTED_ORIGINS = ["https://ui.example.org:8443"]
        assert await opens(b"https://ui.example.org:8443", b"127.0.0.1:8000")
        assert not await opens(b"https://ui.example.org", b"127.0.0.1:8000")

    run(scenario)


async def _closed_with(sock) -> tuple[dict, int]:
    """The socket's last words: the ``closed`` event and the close code."""
    said = None
    while True:
        output = await sock.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return said, output["code"]
        said = json.loads(output["text"])


def test_logout_ends_the_sockets_opened_with_that_session(client, user):
    from asgiref.sync import sync_to_async

    from tasks_app.consumers import CLOSE_UNAUTHENTICATED

    client.force_login(user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    token = _token(user)

    async def scenario():
        browser = _socket(headers=[cookie, (b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")])
        script = _socket(f"/ws/v1/events/?token={token}")
        assert (await browser.connect())[0] and (await script.connect())[0]
        await browser.receive_json_from()
        await script.receive_json_from()
        res = await sync_to_async(client.post)("/logout/")
        assert res.status_code == 302
        said, code = await _closed_with(browser)
        assert (said["event"], code) == ("closed", CLOSE_UNAUTHENTICATED)
        # The token was not part of that session: its socket goes on.
        events.emit("finished", task_id="t9", task_name="test", user_id=user.pk, result=None)
        assert (await script.receive_json_from(timeout=5))["task_id"] == "t9"
        await script.disconnect()

    run(scenario)


def test_a_deactivated_user_or_a_deleted_token_gets_no_more_events(user, other, monkeypatch):
    from tasks_app import consumers

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)
    token, their_token = _token(user), _token(other)

    async def scenario():
        mine = _socket(f"/ws/v1/events/?token={token}")
        theirs = _socket(f"/ws/v1/events/?token={their_token}")
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        await mine.receive_json_from()
        await theirs.receive_json_from()
        await database_sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)
        await database_sync_to_async(Token.objects.filter(user=other).delete)()
        events.emit("progress", task_id="t3", task_name="test", user_id=user.pk, current=1, total=2, message="secret")
        events.emit("progress", task_id="t4", task_name="test", user_id=other.pk, current=1, total=2, message="secret")
        for sock in (mine, theirs):
            said, code = await _closed_with(sock)
            assert (said["event"], code) == ("closed", consumers.CLOSE_UNAUTHENTICATED), said

    run(scenario)


def test_losing_staff_rights_ends_the_staff_subscription(staff, user, settings):
    from tasks_app import consumers

    settings.PRESENCE_HEARTBEAT_INTERVAL = 0.1  # the heartbeat checks too, with no event at all
    token = _token(staff)

    async def scenario():
        sock = _socket(f"/ws/v1/events/?token={token}")
        assert (await sock.connect())[0]
        assert (await sock.receive_json_from())["staff"] is True
        await database_sync_to_async(type(staff).objects.filter(pk=staff.pk).update)(is_staff=False)
        said, code = await _closed_with(sock)
        assert (said["event"], code) == ("closed", consumers.CLOSE_RIGHTS_CHANGED)

    run(scenario)
