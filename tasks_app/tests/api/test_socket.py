"""Socket API: who is connected, and a 503 when Redis cannot say."""

from __future__ import annotations

from tasks_app import presence


def test_clients_lists_sockets_and_workers(api):
    store = presence.presence_store()
    store.put(presence.CLIENT, "chan-1", {"user": "curator", "user_id": 1, "auth": "token", "since": 1_700_000_000.0})
    store.put(presence.WORKER, "w1@host", {"hostname": "w1@host", "pid": 42, "since": 1_700_000_000.0})
    res = api.get("/api/v1/socket/clients/")
    assert res.status_code == 200
    body = res.json()["res"]
    [client] = body["clients"]
    assert client["user"] == "curator" and client["auth"] == "token" and client["since"] == "2023-11-14T22:13:20+00:00" and client["last_seen"]
    [worker] = body["workers"]
    assert worker["hostname"] == "w1@host" and worker["pid"] == 42 and worker["last_heartbeat"]


def test_clients_is_503_when_redis_is_unreachable(api, settings):
    from tests.harness import closed_port_redis_url

    settings.REDIS_URL = closed_port_redis_url()
    res = api.get("/api/v1/socket/clients/")
    assert res.status_code == 503
    assert res.json()["error"]["code"] == "redis_unavailable"
