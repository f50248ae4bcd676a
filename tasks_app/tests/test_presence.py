"""Presence: members join, beat and leave; the silent ones expire. In memory and in Redis."""

from __future__ import annotations

import json
import time

import pytest

from tasks_app import presence
from tests.harness import wait_for


@pytest.fixture(params=["memory", "redis"])
def store(request, settings):
    if request.param == "memory":
        return presence.MemoryPresence()
    settings.REDIS_URL = request.getfixturevalue("redis_url")
    return presence.presence_store()


def _age(store, kind: str, key: str, seconds: float) -> None:
    """Pretend the member's last heartbeat was ``seconds`` ago."""
    if isinstance(store, presence.MemoryPresence):
        store._members[kind][key]["last_seen"] -= seconds
    else:
        raw = json.loads(store.client.hget(presence.KEY_PREFIX + kind, key))
        raw["last_seen"] -= seconds
        store.client.hset(presence.KEY_PREFIX + kind, key, json.dumps(raw))


def test_members_join_and_leave(store):
    store.put(presence.WORKER, "w1@host", {"hostname": "w1@host", "since": 1.0})
    store.put(presence.CLIENT, "chan-1", {"user": "curator"})
    [worker] = store.members(presence.WORKER)
    assert worker["hostname"] == "w1@host" and worker["since"] == 1.0 and worker["last_seen"] > time.time() - 60
    assert [c["user"] for c in store.members(presence.CLIENT)] == ["curator"]
    store.remove(presence.WORKER, "w1@host")
    assert store.members(presence.WORKER) == []


def test_a_member_without_heartbeat_expires(store, settings):
    settings.PRESENCE_TIMEOUT = 30
    store.put(presence.WORKER, "dead@host", {"hostname": "dead@host"})
    store.put(presence.WORKER, "live@host", {"hostname": "live@host"})
    _age(store, presence.WORKER, "dead@host", 31)
    assert [w["hostname"] for w in store.members(presence.WORKER)] == ["live@host"]


def test_redis_presence_is_shared_and_drops_garbage(redis_url, settings):
    settings.REDIS_URL = redis_url
    one, other = presence.RedisPresence(redis_url), presence.RedisPresence(redis_url)  # two processes, say
    one.put(presence.CLIENT, "chan-1", {"user": "curator"})
    other.client.hset(presence.KEY_PREFIX + presence.CLIENT, "junk", b"not json")
    assert [c["user"] for c in other.members(presence.CLIENT)] == ["curator"]
    assert not one.client.hexists(presence.KEY_PREFIX + presence.CLIENT, "junk")


def test_presence_store_follows_redis_url(settings, redis_url):
    settings.REDIS_URL = None
    assert isinstance(presence.presence_store(), presence.MemoryPresence)
    settings.REDIS_URL = redis_url
    assert isinstance(presence.presence_store(), presence.RedisPresence)


def test_heartbeat_keeps_a_worker_present_until_stopped(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.PRESENCE_HEARTBEAT_INTERVAL = 0.05
    beat = presence.Heartbeat(presence.WORKER, "w9@host", {"hostname": "w9@host", "since": time.time()})
    beat.start()
    try:
        first = presence.presence_store().members(presence.WORKER)[0]["last_seen"]
        wait_for(lambda: presence.presence_store().members(presence.WORKER)[0]["last_seen"] > first, timeout=10, what="a heartbeat")
    finally:
        beat.stop()
    assert presence.presence_store().members(presence.WORKER) == []
