"""The production command, ``scripts/serve.sh``: gunicorn with uvicorn workers serves the
API and the websockets (Channels) from several processes, and the database connections
stay bounded by each worker's pool however many requests arrive at once. Slow: it
starts servers, a Celery worker and a PostgreSQL of its own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness import (
    Api,
    EventStream,
    PrivatePostgres,
    bootstrap,
    clear_owned_keys,
    create_live_database,
    http,
    live_env,
    redis_test_url,
    require_redis,
    start_served,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_served_workers_answer_http_and_carry_task_events_over_websockets(tmp_path):
    redis_url = redis_test_url()
    require_redis(redis_url)
    clear_owned_keys(redis_url)
    database = create_live_database(tmp_path, suffix="serve")
    env = live_env(database_url=database.url, redis_url=redis_url, data_dir=tmp_path / "data")
    procs = []
    try:
        tokens = bootstrap(env)
        server, base = start_served(env, tmp_path, workers=2)
        procs.append(server)
        worker = start_worker(env, tmp_path, "serve-w1")
        procs.append(worker)
        wait_for(lambda: len(_children(server.popen.pid)) == 2, timeout=60, what="two uvicorn workers", proc=server)

        api = Api(base, tokens["curator"])
        status, body = api.get("/api/v1/media/")
        assert status == 200, body

        stream = EventStream(base.replace("http://", "ws://") + "/ws/v1/events/", headers={"Authorization": f"Token {tokens['curator']}"})
        try:
            hello = stream.connect()
            assert hello["event"] == "hello", hello
            wait_for(lambda: any(h.startswith("serve-w1@") for h in _workers(api)), timeout=60, what="the Celery worker to register", proc=worker)
            # The task runs in the Celery worker; its events reach this socket's uvicorn
            # worker through Redis, whichever worker answered the POST.
            status, body = api.post("/api/v1/task/test/", {"steps": 2, "interval": 0.2})
            assert status == 202, body
            events = stream.wait_task_end(body["res"]["id"])
            assert [e["event"] for e in events][-1] == "finished", events
            stream.send({"action": "ping"})
            wait_for(lambda: any(e.get("event") == "pong" for e in stream.events), timeout=10, what="pong")
        finally:
            stream.close()
    finally:
        for proc in reversed(procs):
            proc.stop()
        clear_owned_keys(redis_url)
        database.drop()


def _workers(api: Api) -> list[str]:
    status, body = api.get("/api/v1/socket/clients/")
    return [w["hostname"] for w in body["res"]["workers"]] if status == 200 else []


def test_64_concurrent_requests_fit_a_postgresql_with_12_connections(tmp_path):
    """Two workers with pools of at most 4 open at most 8 connections; PostgreSQL
    refuses a 13th client, so any unbounded connection would show up as a 503."""
    postgres = PrivatePostgres(tmp_path, max_connections=12).start()
    procs = []
    try:
        import psycopg

        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE vframe")
        url = postgres.url.rsplit("/", 1)[0] + "/vframe"
        env = live_env(database_url=url, redis_url=None, data_dir=tmp_path / "data", VFRAME_DB_POOL_MAX_SIZE="4")
        tokens = bootstrap(env)
        server, base = start_served(env, tmp_path, workers=2)
        procs.append(server)

        peak = [0]
        stop = threading.Event()

        def watch() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                while not stop.is_set():
                    n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = 'vframe'").fetchone()[0]
                    peak[0] = max(peak[0], n - 1)  # not this watcher's own
                    stop.wait(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        def one(i: int) -> int:
            path = "/api/v1/media/" if i % 2 else "/api/v1/collection/"
            status, _ = http("GET", base + path, token=tokens["curator"], timeout=60)
            return status

        with ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(one, range(64 * 3)))
        stop.set()
        watcher.join(timeout=10)
        assert statuses.count(200) == len(statuses), {s: statuses.count(s) for s in set(statuses)}
        assert 1 <= peak[0] <= 8, peak[0]
        assert "too many clients" not in server.output()
    finally:
        for proc in reversed(procs):
            proc.stop()
        postgres.stop()
