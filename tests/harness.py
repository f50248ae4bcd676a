"""The one harness for tests that start processes: ASGI servers (daphne), Celery workers,
``manage.py`` commands, private redis-servers, and the clients that talk to them.

Every process gets a session of its own (so stopping it takes its children along) and
writes its output to a log file whose tail goes into the failure message. Deployments
run on a database of their own (created here, dropped at the end) rather than
pytest-django's test database, which other tests flush between tests. Redis is the
machine's server on a database number of its own (``VFRAME_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/5``), where only this project's keys are removed; a test that
stops Redis runs a :class:`PrivateRedis`, never the shared one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/5"
# Short presence timings so a killed worker leaves the list within seconds.
HEARTBEAT_INTERVAL = "0.5"
PRESENCE_TIMEOUT = "3"
SECRET_KEY = "live-test-secret-key-" + "x" * 40
# Keys this project writes to Redis: Celery's queue and bindings, kombu's pidbox and
# unacked sets, channels-redis, presence. Removed before and after the run.
OWNED_KEY_PATTERNS = ("vframe*", "_kombu.binding*", "unacked*", "asgi*", "celery*", "*.reply.celery.pidbox")


# --- Ports and waiting --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1, proc: Proc | None = None) -> Any:
    """Poll until ``predicate`` is truthy (a deadline against hangs, not a timing check);
    with ``proc``, fail at once with its output when it exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited while waiting for {what}:\n{proc.output()}")
        if time.monotonic() > deadline:
            extra = f"\n{proc.name} output:\n{proc.output()}" if proc is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


# --- Redis --------------------------------------------------------------------------------------


def redis_test_url() -> str:
    return os.environ.get("VFRAME_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


def require_redis(url: str) -> None:
    """Fail (never skip) when the Redis server the tests need is not there."""
    import pytest
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.fail(f"Redis is required at {url} for these tests (.ci/run starts it): {exc}")


def clear_owned_keys(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for pattern in OWNED_KEY_PATTERNS:
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)


def closed_port_redis_url() -> str:
    """A redis:// URL nobody listens on (the port was free a moment ago)."""
    return f"redis://127.0.0.1:{free_port()}/0"


# --- Database -----------------------------------------------------------------------------------


@dataclass
class LiveDatabase:
    url: str
    drop: Callable[[], None]


def create_live_database(tmp_dir: Path, suffix: str = "live") -> LiveDatabase:
    """A fresh database beside the test process's one: PostgreSQL when DATABASE_URL
    points at PostgreSQL (a ``<name>_<suffix>`` database), else a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        name = (parts.path.lstrip("/") or "vframe") + "_" + suffix
        admin_url = urlunsplit(parts._replace(path="/postgres"))

        def execute(sql: str) -> None:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql)

        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        execute(f'CREATE DATABASE "{name}"')
        return LiveDatabase(urlunsplit(parts._replace(path="/" + name)), lambda: execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    path = tmp_dir / f"{suffix}.sqlite3"
    return LiveDatabase(f"sqlite:///{path}", lambda: None)


# --- Environment --------------------------------------------------------------------------------


def live_env(*, database_url: str, redis_url: str | None, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a deployment's processes: this one's, without any project
    setting it may carry, plus the deployment's database, Redis (None: the embedded
    defaults) and data folder, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VFRAME_", "DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="vframe_search.settings",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DATABASE_URL=database_url,
        VFRAME_DATA_DIR=str(data_dir),
        VFRAME_HEARTBEAT_INTERVAL=HEARTBEAT_INTERVAL,
        VFRAME_PRESENCE_TIMEOUT=PRESENCE_TIMEOUT,
        VFRAME_BROKER_TIMEOUT="1",
        VFRAME_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


_BOOTSTRAP = """
import json, django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from rest_framework.authtoken.models import Token
call_command("migrate", verbosity=0, interactive=False)
User = get_user_model()
out = {}
for name, staff in (("curator", False), ("boss", True), ("other", False)):
    user = User.objects.create_user(username=name, password=name + "-pass-123", is_staff=staff)
    out[name] = Token.objects.create(user=user).key
session = SessionStore()
curator = User.objects.get(username="curator")
session[SESSION_KEY] = str(curator.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = curator.get_session_auth_hash()
session.create()
out["session"] = session.session_key
print(json.dumps(out))
"""


def bootstrap(env: dict[str, str]) -> dict[str, str]:
    """Migrate the live database and create users: tokens of curator, boss (staff), other,
    and a session key of curator."""
    result = subprocess.run([sys.executable, "-c", _BOOTSTRAP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"bootstrap of the live database failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- Processes ----------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        """Graceful stop (SIGTERM: Celery's warm shutdown), then SIGKILL of the group."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()  # leftovers of the group (pool children)
        return self.popen.returncode

    def kill(self) -> None:
        """Kill the whole process group at once, with no chance to say goodbye."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    """Start ``args`` in the checkout with output to ``log_dir/<name>.log``."""
    log = log_dir / f"{name}.log"
    handle = log.open("wb")
    # A session of its own, so kill() can take the pool children along.
    popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    return Proc(name, popen, log)


def start_server(env: dict[str, str], log_dir: Path, name: str = "daphne") -> tuple[Proc, str]:
    """daphne on a free port, once it answers HTTP; returns it and its base URL."""
    port = free_port()
    proc = spawn(name, [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vframe_search.asgi:application"], env, log_dir)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base), timeout=60, what=f"{name} to answer HTTP", proc=proc)
    return proc, base


def start_served(env: dict[str, str], log_dir: Path, *, workers: int = 2, name: str = "serve") -> tuple[Proc, str]:
    """``scripts/serve.sh`` (gunicorn with ``workers`` uvicorn workers, the production
    command) on a free port, once it answers HTTP; returns it and its base URL."""
    port = free_port()
    served = {**env, "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers)}
    # The venv's gunicorn, whichever Python runs the tests.
    served["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{served.get('PATH', '')}"
    served["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    proc = spawn(name, ["bash", str(ROOT / "scripts" / "serve.sh")], served, log_dir)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base), timeout=90, what=f"{name} to answer HTTP", proc=proc)
    return proc, base


def _answers(base: str) -> bool:
    status, _ = http("GET", base + "/api/v1/task/", timeout=2)
    return status == 401


def start_worker(env: dict[str, str], log_dir: Path, name: str) -> Proc:
    """A Celery worker on the default queue, one prefork child (revoke can terminate it)."""
    args = [sys.executable, "-m", "celery", "-A", "vframe_search", "worker", "-n", f"{name}@%h", "-c", "1", "-P", "prefork"]
    args += ["--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    return spawn(name, args, env, log_dir)


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python manage.py ARGS`` with the deployment's environment; fails loudly."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def start_manage(env: dict[str, str], log_dir: Path, name: str, *args: str) -> Proc:
    """``python manage.py ARGS`` in the background (a process group of its own)."""
    return spawn(name, [sys.executable, "manage.py", *args], env, log_dir)


@dataclass
class S3Server:
    """moto's standalone server (``moto[server]``): the S3 HTTP API on a free loopback
    port, with one bucket, and the settings that point a deployment at it."""

    proc: Proc
    endpoint: str
    bucket: str = "vframe-test"

    def env(self) -> dict[str, str]:
        return {
            "VFRAME_S3_BUCKET": self.bucket,
            "VFRAME_S3_ENDPOINT_URL": self.endpoint,
            "VFRAME_S3_REGION": "us-east-1",
            "VFRAME_S3_ACCESS_KEY_ID": "vframe-test-key",
            "VFRAME_S3_SECRET_ACCESS_KEY": "vframe-test-secret",
        }

    def client(self):
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=env["VFRAME_S3_REGION"],
            aws_access_key_id=env["VFRAME_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=env["VFRAME_S3_SECRET_ACCESS_KEY"],
        )

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def start_s3(log_dir: Path) -> S3Server:
    """moto's S3 server on a free port with an empty bucket, once it answers."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "vframe-test-key", "AWS_SECRET_ACCESS_KEY": "vframe-test-secret"}
    proc = spawn("moto-s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env, log_dir)
    server = S3Server(proc, f"http://127.0.0.1:{port}")

    def answers() -> bool:
        try:
            server.client().list_buckets()
        except Exception:  # botocore's connection errors are not OSErrors
            return False
        return True

    wait_for(answers, timeout=60, what="moto's S3 server", proc=proc, interval=0.2)
    server.client().create_bucket(Bucket=server.bucket)
    return server


class PrivateRedis:
    """A redis-server of the test's own on a free port (no persistence), which it may
    stop; a stopped one is simply started again on the same port."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is required for the Redis fault test (Debian package redis-server)")
        self.starts += 1
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = spawn(f"redis-{self.starts}", args, dict(os.environ), self.log_dir)
        wait_for(self.ping, timeout=20, what=f"redis-server on port {self.port}", proc=self.proc)
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Kill it outright (a crash, not a shutdown): clients find the port closed."""
        if self.proc is not None:
            self.proc.kill()
            self.proc = None


class PrivatePostgres:
    """A PostgreSQL server of the test's own (``initdb`` + ``pg_ctl`` of the machine's
    PostgreSQL, in a temporary folder, on a free port), so a test may give it a small
    ``max_connections``. As root it runs as the ``postgres`` user, which initdb needs."""

    def __init__(self, log_dir: Path, *, max_connections: int = 100):
        self.port = free_port()
        self.log_dir = log_dir
        self.max_connections = max_connections
        self.dir: Path | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
        if found:
            return str(found[-1])
        binary = shutil.which(name)
        if binary is None:
            raise AssertionError(f"{name} is required for a private PostgreSQL (Debian package postgresql)")
        return binary

    def _run(self, args: list[str]) -> None:
        kwargs: dict[str, Any] = {"user": "postgres"} if os.geteuid() == 0 else {}
        result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd="/", **kwargs)
        if result.returncode != 0:
            raise AssertionError(f"{Path(args[0]).name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")

    def start(self) -> PrivatePostgres:
        import tempfile

        # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="vframe-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._run([self._bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections} -c fsync=off"
        self._run([self._bin("pg_ctl"), "-D", str(data), "-l", str(self.dir / "postgres.log"), "-o", options, "-w", "-t", "60", "start"])
        return self

    def log(self) -> str:
        try:
            return (self.dir / "postgres.log").read_text(errors="replace")[-4000:]
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            self._run([self._bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


# --- Clients ------------------------------------------------------------------------------------


def _json_answer(request: urllib.request.Request, timeout: float) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


def http(method: str, url: str, *, token: str | None = None, body: Any = None, timeout: float = 15) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    return _json_answer(request, timeout)


def upload(base: str, token: str, name: str, data: bytes, timeout: float = 15) -> tuple[int, dict]:
    """POST upload/ as multipart, the way a script would."""
    boundary = "vframe-hardening-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(base + "/api/v1/upload/", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Token {token}")
    return _json_answer(request, timeout)


@dataclass
class Api:
    base: str
    token: str | None = None

    def get(self, path: str, **kw) -> tuple[int, dict]:
        return http("GET", self.base + path, token=self.token, **kw)

    def post(self, path: str, body: Any = None, **kw) -> tuple[int, dict]:
        return http("POST", self.base + path, token=self.token, body=body if body is not None else {}, **kw)

    def delete(self, path: str, **kw) -> tuple[int, dict]:
        return http("DELETE", self.base + path, token=self.token, **kw)


@dataclass
class EventStream:
    """A websocket client on ws/v1/events/ that collects events in a background loop."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    origin: str | None = None
    events: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._ws = None

    def _run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def connect(self) -> dict:
        """Open the socket; returns the server's hello (raises on a refused handshake)."""
        import websockets

        async def _connect():
            kwargs: dict[str, Any] = {"additional_headers": self.headers, "open_timeout": 10}
            if self.origin:
                kwargs["origin"] = self.origin
            self._ws = await websockets.connect(self.url, **kwargs)
            hello = json.loads(await asyncio.wait_for(self._ws.recv(), 10))
            self._reader = asyncio.ensure_future(self._read())
            return hello

        return self._run(_connect())

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self.events.append(json.loads(raw))
        except Exception:
            pass

    def send(self, message: dict) -> None:
        self._run(self._ws.send(json.dumps(message)))

    def for_task(self, task_id: str) -> list[dict]:
        return [e for e in list(self.events) if e.get("task_id") == task_id]

    def wait_task_end(self, task_id: str, timeout: float = 60) -> list[dict]:
        """Events of ``task_id`` up to and including finished/failed/cancelled."""

        def ended():
            events = self.for_task(task_id)
            return events if events and events[-1]["event"] in ("finished", "failed", "cancelled") else None

        return wait_for(ended, timeout=timeout, what=f"the end of task {task_id} on the websocket")

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._run(self._ws.close(), timeout=5)
            except Exception:
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
