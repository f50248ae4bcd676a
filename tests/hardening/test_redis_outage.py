"""Redis stopped while the server runs: search and the REST API keep working;
the task and socket routes answer 503 with the reason; once Redis is back, everything
works again without restarting anything.

The deployment (daphne, a Celery worker) runs on a redis-server of this test's own,
which the test kills and starts again on the same port; the machine's shared Redis is
never touched. A detection model is selected, so searches also go through the cache
that lives in Redis.
"""

from __future__ import annotations

import pytest

from tests.harness import EventStream, PrivateRedis, manage, upload, wait_for

pytestmark = pytest.mark.slow


def _ok(result, *statuses: int) -> dict:
    status, body = result
    assert status in (statuses or (200,)), (status, body)
    assert body["status"] == "ok", body
    return body["res"]


def _unavailable(result, code: str) -> str:
    status, body = result
    assert status == 503, (status, body)
    assert body["status"] == "error" and body["error"]["code"] == code, body
    return body["error"]["message"]


def _websocket(base: str, token: str) -> dict:
    stream = EventStream(base.replace("http://", "ws://") + "/ws/v1/events/", headers={"Authorization": f"Token {token}"})
    try:
        return stream.connect()
    finally:
        stream.close()


def _task_runs(live, base: str) -> str:
    """Start the test task and wait for its end on the websocket; returns its state."""
    stream = EventStream(base.replace("http://", "ws://") + "/ws/v1/events/", headers={"Authorization": f"Token {live.tokens['curator']}"})
    try:
        assert stream.connect()["event"] == "hello"
        task_id = _ok(live.api(base).post("/api/v1/task/test/", {"steps": 2, "interval": 0}), 202)["id"]
        events = [e["event"] for e in stream.wait_task_end(task_id, timeout=60)]
        assert events[0] == "started", events  # none lost to a connection from before the outage
        return events[-1]
    finally:
        stream.close()


def test_redis_stopped_keeps_search_and_rest_working_and_task_routes_say_503_until_it_returns(live, image_bytes):
    redis = PrivateRedis(live.tmp).start()
    try:
        env = live.env_with(REDIS_URL=redis.url)
        folder = live.tmp / "redis-outage"
        folder.mkdir()
        for seed in range(3000, 3004):
            (folder / f"{seed}.jpg").write_bytes(image_bytes(64, 48, seed=seed))
        manage(env, "ingest", "--no-index", "--no-progress", str(folder))
        server, base = live.server(env, name="daphne-private-redis")
        live.worker("r1", env, base)
        api, boss = live.api(base), live.api(base, "boss")
        feature_id = _ok(boss.post("/api/v1/feature/", {"modelzoo_name": "tiny-random"}), 201)["id"]
        wait_for(lambda: _ok(api.get(f"/api/v1/feature/{feature_id}/"))["status"] == "ready", timeout=120, what="the feature's index")
        media_id = _ok(api.get("/api/v1/media/?media_type=image&limit=1"))["results"][0]["id"]
        # (Loading the detector into the server takes a while on a busy machine.)
        _ok(boss.post("/api/v1/search/load_detection_model/detector-random/", timeout=120))
        search = f"/api/v1/search/media/{media_id}/?feature={feature_id}"
        assert _ok(api.get(search, timeout=60))["detections"]["model"] == "detector-random"

        redis.stop()

        # Search and the REST API need no Redis.
        found = _ok(api.get(search))
        assert found["results"] and found["detections"]["model"] == "detector-random"
        _ok(api.get("/api/v1/media/"))
        collection = _ok(api.post("/api/v1/collection/", {"title": "made while Redis was down"}), 201)
        _ok(api.post(f"/api/v1/collection/{collection['id']}/media/", {"media_id": media_id}), 200, 201)
        uploaded = _ok(upload(base, live.tokens["curator"], "query.jpg", image_bytes(64, 48, seed=3100)), 201)
        _ok(api.get(f"/api/v1/search/upload/{uploaded['id']}/?feature={feature_id}"))
        # Writes that schedule a build: stored, and the build that could not start is said.
        later = _ok(boss.post("/api/v1/feature/", {"modelzoo_name": "tiny-random", "active": False}), 201)
        assert _ok(api.get(f"/api/v1/feature/{later['id']}/"))["status"] == "failed"
        doomed = _ok(api.get("/api/v1/media/?media_type=image&limit=1&order=desc"))["results"][0]["id"]
        _ok(boss.delete(f"/api/v1/media/id/{doomed}/"))
        assert doomed not in [r["media"]["id"] for r in _ok(api.get(search + "&limit=50"))["results"]]

        # Task and socket routes say why they cannot answer.
        assert "unreachable" in _unavailable(api.post("/api/v1/task/test/", {"steps": 1}), "queue_unavailable")
        assert "unreachable" in _unavailable(api.get("/api/v1/task/info/"), "broker_unavailable")
        assert "Redis" in _unavailable(api.get("/api/v1/socket/clients/"), "redis_unavailable")
        hello = _websocket(base, live.tokens["curator"])
        assert hello["event"] == "error" and "Redis" in hello["message"]

        redis.start()

        # Everything works again, with no restart: events stream, the worker is back.
        wait_for(lambda: _websocket(base, live.tokens["curator"])["event"] == "hello", timeout=30, what="websockets to work again")
        assert _task_runs(live, base) == "finished"
        clients = wait_for(lambda: (r := api.get("/api/v1/socket/clients/"))[0] == 200 and r[1]["res"], timeout=30, what="presence")
        assert any(w["hostname"].startswith("r1@") for w in clients["workers"])
        _ok(api.get("/api/v1/task/info/"))
        assert _ok(api.get(search))["results"]
        assert server.alive()
        assert "Internal Server Error" not in server.output()
        # The selection is stored for every process: leave detections off again.
        _ok(boss.post("/api/v1/search/load_detection_model/none/"))
    finally:
        # Stop the processes before their Redis (the live fixture would do it after).
        while live.procs:
            live.procs.pop().stop(timeout=10)
        redis.stop()


def test_the_channel_layer_sends_on_after_a_redis_restart(tmp_path):
    """A send on a pooled connection that died with the restart is sent again on a fresh
    one (channels-redis' own layer raises ConnectionError there and the event is lost)."""
    import asyncio

    from vframe_search.channel_layer import RedisChannelLayer

    redis = PrivateRedis(tmp_path).start()
    try:
        layer = RedisChannelLayer(hosts=[{"address": redis.url, "socket_timeout": 15}])

        async def send_restart_send() -> None:
            channel = await layer.new_channel()
            await layer.group_add("g", channel)
            await layer.group_send("g", {"type": "task.event", "n": 1})
            assert (await layer.receive(channel))["n"] == 1
            redis.stop()
            redis.start()
            await layer.group_add("g", channel)  # a restarted Redis has lost the group
            await layer.group_send("g", {"type": "task.event", "n": 2})
            assert (await layer.receive(channel))["n"] == 2

        asyncio.run(send_restart_send())
    finally:
        redis.stop()
