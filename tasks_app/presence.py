"""Who is connected right now: websocket clients and Celery workers, with heartbeats.

Each member is stored with ``since`` and ``last_seen`` (seconds since the epoch) and
refreshes ``last_seen`` every ``PRESENCE_HEARTBEAT_INTERVAL`` seconds. A member that
says goodbye is removed at once; one that dies without a word (a killed worker, a
crashed web process) is dropped once ``PRESENCE_TIMEOUT`` passes without a heartbeat.

With ``REDIS_URL`` the members live in Redis hashes, so every web process and every
worker host sees the same list; without Redis they live in this process's memory,
which is all there is in the embedded single-process setup.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from django.conf import settings

CLIENT = "client"
WORKER = "worker"
KINDS = (CLIENT, WORKER)
KEY_PREFIX = "vframe:presence:"


class PresenceStore(Protocol):
    def put(self, kind: str, key: str, info: dict[str, Any]) -> None: ...
    def remove(self, kind: str, key: str) -> None: ...
    def members(self, kind: str) -> list[dict[str, Any]]: ...


class MemoryPresence:
    """Members in a dict of this process (the embedded, Redis-less setup)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}

    def put(self, kind: str, key: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._members[kind][key] = {**info, "last_seen": time.time()}

    def remove(self, kind: str, key: str) -> None:
        with self._lock:
            self._members[kind].pop(key, None)

    def members(self, kind: str) -> list[dict[str, Any]]:
        cutoff = time.time() - settings.PRESENCE_TIMEOUT
        with self._lock:
            members = self._members[kind]
            for key in [k for k, v in members.items() if v["last_seen"] < cutoff]:
                del members[key]
            return [dict(v) for v in members.values()]


class RedisPresence:
    """Members in one Redis hash per kind: field = member key, value = JSON."""

    def __init__(self, url: str) -> None:
        import redis

        # Short timeouts: a listing or a heartbeat must fail fast, never hang a request.
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)

    def put(self, kind: str, key: str, info: dict[str, Any]) -> None:
        self.client.hset(KEY_PREFIX + kind, key, json.dumps({**info, "last_seen": time.time()}))

    def remove(self, kind: str, key: str) -> None:
        self.client.hdel(KEY_PREFIX + kind, key)

    def members(self, kind: str) -> list[dict[str, Any]]:
        cutoff = time.time() - settings.PRESENCE_TIMEOUT
        live, dead = [], []
        for key, raw in self.client.hgetall(KEY_PREFIX + kind).items():
            try:
                info = json.loads(raw)
            except ValueError:
                info = None
            if not isinstance(info, dict) or info.get("last_seen", 0) < cutoff:
                dead.append(key)
            else:
                live.append(info)
        if dead:
            self.client.hdel(KEY_PREFIX + kind, *dead)
        return live


_memory = MemoryPresence()
_redis_stores: dict[str, RedisPresence] = {}
_stores_lock = threading.Lock()


def presence_store() -> PresenceStore:
    """The store of this deployment: Redis when REDIS_URL is set, else this process."""
    url = settings.REDIS_URL
    if not url:
        return _memory
    with _stores_lock:
        store = _redis_stores.get(url)
        if store is None:
            store = _redis_stores[url] = RedisPresence(url)
        return store


class Heartbeat:
    """Keeps one member present from a background thread until :meth:`stop`.

    Used by Celery workers (a worker's main loop is not ours to hook into); websocket
    consumers beat from their own asyncio task instead.
    """

    def __init__(self, kind: str, key: str, info: dict[str, Any]) -> None:
        self.kind, self.key, self.info = kind, key, info
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"presence-{kind}", daemon=True)

    def start(self) -> None:
        presence_store().put(self.kind, self.key, self.info)
        self._thread.start()

    def _run(self) -> None:
        import logging

        log = logging.getLogger(__name__)
        while not self._stop.wait(settings.PRESENCE_HEARTBEAT_INTERVAL):
            try:
                # put, not touch: a Redis that lost its data (restart) gets the member back.
                presence_store().put(self.kind, self.key, self.info)
            except Exception:
                log.warning("presence heartbeat of %s failed", self.key, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        presence_store().remove(self.kind, self.key)
