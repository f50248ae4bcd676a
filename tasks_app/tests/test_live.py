"""The live-updates layer as deployed: a real ASGI server (daphne) and real Celery
worker processes over PostgreSQL (or SQLite) and Redis, watched through a real
websocket client. Slow: it starts processes (once per module, apart from the workers
that scale-out and shutdown tests start and stop)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import (
    Api,
    EventStream,
    Proc,
    bootstrap,
    clear_owned_keys,
    create_live_database,
    live_env,
    redis_test_url,
    require_redis,
    start_server,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    base: str
    env: dict
    tmp: Path
    tokens: dict
    worker: Proc

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws/v1/events/"

    def api(self, who: str = "curator") -> Api:
        return Api(self.base, self.tokens[who])

    def stream(self, who: str = "curator") -> EventStream:
        stream = EventStream(self.ws_url, headers={"Authorization": f"Token {self.tokens[who]}"})
        stream.connect()
        return stream

    def workers(self) -> list[str]:
        status, body = self.api().get("/api/v1/socket/clients/")
        assert status == 200, body
        return [w["hostname"] for w in body["res"]["workers"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    redis_url = redis_test_url()
    require_redis(redis_url)
    clear_owned_keys(redis_url)
    tmp = tmp_path_factory.mktemp("live")
    database = create_live_database(tmp)
    # These tests start several tasks at once as the curator; the per-user quota has
    # tests of its own (tests/hardening/test_work_bounds.py).
    env = live_env(database_url=database.url, redis_url=redis_url, data_dir=tmp / "data", VFRAME_TASKS_PER_USER="10")
    procs: list[Proc] = []
    try:
        tokens = bootstrap(env)
        server, base = start_server(env, tmp)
        procs.append(server)
        worker = start_worker(env, tmp, "w1")
        procs.append(worker)
        stack = Stack(base, env, tmp, tokens, worker)
        wait_for(lambda: any(h.startswith("w1@") for h in stack.workers()), timeout=60, what="worker w1 to register", proc=worker)
        yield stack
    finally:
        for proc in reversed(procs):
            proc.stop()
        clear_owned_keys(redis_url)
        database.drop()


def test_test_task_streams_progress_in_order_then_finishes(stack):
    stream = stack.stream()
    try:
        # 0.2 s apart: above the 0.1 s progress throttle, so every report is sent.
        status, body = stack.api().post("/api/v1/task/test/", {"steps": 3, "interval": 0.2})
        assert status == 202, body
        task_id = body["res"]["id"]
        events = stream.wait_task_end(task_id)
    finally:
        stream.close()
    kinds = [e["event"] for e in events]
    assert kinds == ["started", "progress", "progress", "progress", "progress", "finished"], events
    assert [(e["current"], e["total"]) for e in events if e["event"] == "progress"] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert events[0]["worker"].startswith("w1@")
    assert events[-1]["result"]["steps"] == 3


def test_finished_task_keeps_state_progress_and_result_and_only_its_owner_sees_it(stack):
    owner, other = stack.stream("curator"), stack.stream("other")
    try:
        status, body = stack.api().post("/api/v1/task/run/", {"task_name": "test", "params": {"steps": 2, "interval": 0}})
        assert status == 202, body
        task_id = body["res"]["id"]
        owner.wait_task_end(task_id)
        owner.send({"action": "ping"})
        wait_for(lambda: any(e.get("event") == "pong" for e in owner.events), timeout=10, what="pong")
    finally:
        owner.close()
        other.close()
    assert other.for_task(task_id) == []  # another user's socket hears nothing of it

    status, body = stack.api().get(f"/api/v1/task/{task_id}/")
    assert status == 200, body
    run = body["res"]
    assert run["state"] == "SUCCESS"
    assert run["progress"] == {"current": 2, "total": 2, "message": "step 2 of 2"}
    assert run["result"]["steps"] == 2
    assert run["worker"].startswith("w1@") and run["user"] == "curator" and run["finished_at"]

    assert stack.api("other").get(f"/api/v1/task/{task_id}/")[0] == 404
    assert stack.api("boss").get(f"/api/v1/task/{task_id}/")[0] == 200  # staff see every task
    status, body = stack.api().get("/api/v1/task/recent/")
    assert status == 200 and task_id in [r["id"] for r in body["res"]["results"]]


def test_failing_task_streams_failed_with_the_error(stack):
    stream = stack.stream()
    try:
        status, body = stack.api().post("/api/v1/task/test/", {"steps": 3, "interval": 0.2, "fail_at": 2})
        assert status == 202, body
        task_id = body["res"]["id"]
        events = stream.wait_task_end(task_id)
    finally:
        stream.close()
    assert [e["event"] for e in events] == ["started", "progress", "progress", "failed"]
    assert "Failed at step 2 of 3" in events[-1]["error"]
    status, body = stack.api().get(f"/api/v1/task/{task_id}/")
    assert body["res"]["state"] == "FAILURE"
    assert "RuntimeError: Failed at step 2 of 3" in body["res"]["error"]


def test_cancel_stops_a_running_task_and_drops_a_pending_one(stack):
    api = stack.api()
    stream = stack.stream()
    try:
        running = api.post("/api/v1/task/test/", {"steps": 300, "interval": 0.1})[1]["res"]["id"]
        wait_for(lambda: any(e["event"] == "progress" for e in stream.for_task(running)), timeout=30, what="the first progress report")
        # w1 has one process and prefetches one task: the second waits in the queue.
        pending = api.post("/api/v1/task/test/", {"steps": 1, "interval": 0})[1]["res"]["id"]

        # The queues as Celery sees them: one task active on w1, one waiting in the queue.
        status, body = stack.api("boss").get("/api/v1/task/info/")
        assert status == 200, body
        w1 = next(w for w in body["res"]["workers"] if w["hostname"].startswith("w1@"))
        assert [(t["id"], t["name"], t["kwargs"]["steps"]) for t in w1["active"]] == [(running, "test", 300)]
        assert body["res"]["queues"] == [{"name": "vframe", "waiting": 1}]

        status, body = api.post(f"/api/v1/task/{pending}/cancel/")
        assert status == 200 and body["res"]["state"] == "REVOKED", body
        status, body = api.post(f"/api/v1/task/{running}/cancel/")
        assert status == 202 and body["res"]["cancel_requested"] is True, body

        running_events = stream.wait_task_end(running)
        assert running_events[-1]["event"] == "cancelled"
        wait_for(lambda: [e["event"] for e in stream.for_task(pending)] == ["cancelled"], timeout=30, what="the pending task's cancel event")

        # The worker lives on (its pool replaced the terminated process) and runs the next task.
        after = api.post("/api/v1/task/test/", {"steps": 1, "interval": 0})[1]["res"]["id"]
        assert stream.wait_task_end(after)[-1]["event"] == "finished"
    finally:
        stream.close()
    assert api.get(f"/api/v1/task/{running}/")[1]["res"]["state"] == "REVOKED"
    assert api.get(f"/api/v1/task/{pending}/")[1]["res"]["state"] == "REVOKED"
    assert [e["event"] for e in stream.for_task(pending)] == ["cancelled"]  # never started
    status, body = api.post(f"/api/v1/task/{running}/cancel/")
    assert status == 409 and body["error"]["code"] == "task_finished"


def test_socket_clients_lists_websockets_and_workers(stack):
    stream = stack.stream("boss")
    try:
        status, body = stack.api().get("/api/v1/socket/clients/")
        assert status == 200, body
        clients, workers = body["res"]["clients"], body["res"]["workers"]
        boss = next(c for c in clients if c["user"] == "boss")
        assert boss["auth"] == "token" and boss["since"] and boss["last_seen"]
        w1 = next(w for w in workers if w["hostname"].startswith("w1@"))
        assert w1["since"] and w1["last_heartbeat"] and w1["pid"] == stack.worker.popen.pid
    finally:
        stream.close()
    wait_for(lambda: not stack.api().get("/api/v1/socket/clients/")[1]["res"]["clients"], timeout=30, what="the closed sockets to leave the list")


def test_a_quiet_websocket_stays_open_past_the_channel_layers_blocking_read(stack):
    """channels-redis waits for messages with a 5 s BZPOPMIN; under redis-py's default 5 s
    read timeout every socket quiet for 5 s would be closed with 1011."""
    import time

    stream = stack.stream()
    try:
        time.sleep(7)  # quiet: no task, no message
        stream.send({"action": "ping"})
        wait_for(lambda: any(e.get("event") == "pong" for e in stream.events), timeout=10, what="pong after a quiet spell")
    finally:
        stream.close()


def test_websocket_needs_authentication_like_the_api(stack):
    import websockets

    anonymous = EventStream(stack.ws_url)
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        anonymous.connect()
    anonymous.close()
    assert refused.value.response.status_code == 403

    by_query = EventStream(stack.ws_url + f"?token={stack.tokens['other']}")
    assert by_query.connect() == {"event": "hello", "user": "other", "staff": False}
    by_query.close()

    # A browser: session cookie, from an allowed origin; a foreign origin is refused.
    cookie = {"Cookie": f"sessionid={stack.tokens['session']}"}
    browser = EventStream(stack.ws_url, headers=cookie, origin=stack.base)
    assert browser.connect()["user"] == "curator"
    browser.close()
    foreign = EventStream(stack.ws_url, headers=cookie, origin="http://evil.example")
    with pytest.raises(websockets.exceptions.InvalidStatus):
        foreign.connect()
    foreign.close()


def test_task_info_reports_workers_and_queue(stack):
    status, body = stack.api().get("/api/v1/task/info/")
    assert status == 200, body
    info = body["res"]
    assert info["mode"] == "celery" and info["broker"].startswith("redis://")
    assert info["queues"] == [{"name": "vframe", "waiting": 0}]
    w1 = next(w for w in info["workers"] if w["hostname"].startswith("w1@"))
    assert w1["queues"] == ["vframe"]
    assert w1["active"] == [] and w1["reserved"] == [] and w1["scheduled"] == []


def test_two_workers_share_one_queue_and_a_stopped_worker_leaves(stack):
    w2 = start_worker(stack.env, stack.tmp, "w2")
    try:
        wait_for(lambda: any(h.startswith("w2@") for h in stack.workers()), timeout=60, what="worker w2 to register", proc=w2)
        stream = stack.stream()
        try:
            ids = [stack.api().post("/api/v1/task/test/", {"steps": 3, "interval": 0.2})[1]["res"]["id"] for _ in range(4)]
            ran_on = {stream.wait_task_end(task_id)[0]["worker"].split("@")[0] for task_id in ids}
        finally:
            stream.close()
        assert ran_on == {"w1", "w2"}
        info = stack.api().get("/api/v1/task/info/")[1]["res"]
        assert sorted(w["hostname"].split("@")[0] for w in info["workers"]) == ["w1", "w2"]
    finally:
        assert w2.stop() == 0, w2.output()  # warm shutdown: goodbye said
    assert not any(h.startswith("w2@") for h in stack.workers())


def test_killed_worker_disappears_after_the_heartbeat_timeout(stack):
    w3 = start_worker(stack.env, stack.tmp, "w3")
    try:
        wait_for(lambda: any(h.startswith("w3@") for h in stack.workers()), timeout=60, what="worker w3 to register", proc=w3)
    finally:
        w3.kill()  # SIGKILL: no shutdown signal, no goodbye
    wait_for(lambda: not any(h.startswith("w3@") for h in stack.workers()), timeout=30, what="the killed worker to time out")
    assert any(h.startswith("w1@") for h in stack.workers())  # the living one keeps beating


def test_without_reachable_redis_the_api_says_so_and_stays_up(stack):
    from tests.harness import closed_port_redis_url

    env = {**stack.env, "REDIS_URL": closed_port_redis_url()}
    server, base = start_server(env, stack.tmp, name="daphne-no-redis")
    try:
        api = Api(base, stack.tokens["curator"])
        assert api.get("/api/v1/task/")[0] == 200  # the catalogue needs no Redis

        status, body = api.get("/api/v1/task/info/")
        assert status == 503 and body["error"]["code"] == "broker_unavailable", body
        status, body = api.get("/api/v1/socket/clients/")
        assert status == 503 and body["error"]["code"] == "redis_unavailable", body
        status, body = api.post("/api/v1/task/test/", {"steps": 1})
        assert status == 503 and body["error"]["code"] == "queue_unavailable", body

        # The attempt is on record, as failed, with the reason.
        failed = api.get("/api/v1/task/recent/?sort=date&order=desc&limit=1")[1]["res"]["results"][0]
        assert failed["state"] == "FAILURE" and failed["error"].startswith("Not started")

        stream = EventStream(base.replace("http://", "ws://") + "/ws/v1/events/", headers={"Authorization": f"Token {stack.tokens['curator']}"})
        try:
            assert stream.connect()["event"] == "error"
        finally:
            stream.close()
    finally:
        server.stop()


def test_without_redis_tasks_run_in_the_web_process_and_still_stream(stack):
    env = {k: v for k, v in stack.env.items() if k != "REDIS_URL"}
    server, base = start_server(env, stack.tmp, name="daphne-inline")
    try:
        api = Api(base, stack.tokens["curator"])
        stream = EventStream(base.replace("http://", "ws://") + "/ws/v1/events/", headers={"Authorization": f"Token {stack.tokens['curator']}"})
        stream.connect()
        try:
            status, body = api.post("/api/v1/task/test/", {"steps": 3, "interval": 0.2})
            assert status == 202, body
            task_id = body["res"]["id"]
            events = stream.wait_task_end(task_id)
            clients = api.get("/api/v1/socket/clients/")[1]["res"]
        finally:
            stream.close()
        assert [e["event"] for e in events] == ["started", "progress", "progress", "progress", "progress", "finished"]
        assert events[0]["worker"].startswith("inline@")
        assert [c["user"] for c in clients["clients"]] == ["curator"] and clients["workers"] == []
        assert api.get(f"/api/v1/task/{task_id}/")[1]["res"]["state"] == "SUCCESS"
        info = api.get("/api/v1/task/info/")[1]["res"]
        assert info["mode"] == "inline" and info["workers"][0]["hostname"].startswith("inline@")

        # A thread cannot be killed: the cancel flag stops the task at its next report.
        stream = EventStream(base.replace("http://", "ws://") + "/ws/v1/events/", headers={"Authorization": f"Token {stack.tokens['curator']}"})
        stream.connect()
        try:
            long_id = api.post("/api/v1/task/test/", {"steps": 300, "interval": 0.1})[1]["res"]["id"]
            wait_for(lambda: any(e["event"] == "progress" for e in stream.for_task(long_id)), timeout=30, what="the first progress report")
            assert api.post(f"/api/v1/task/{long_id}/cancel/")[0] == 202
            assert stream.wait_task_end(long_id)[-1]["event"] == "cancelled"
        finally:
            stream.close()
        assert api.get(f"/api/v1/task/{long_id}/")[1]["res"]["state"] == "REVOKED"
    finally:
        server.stop()
