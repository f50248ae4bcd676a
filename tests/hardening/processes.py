"""What the fault tests start beside the deployment of tasks_app/tests/live.py: a private
redis-server they may stop, a TCP proxy in front of PostgreSQL they may cut, and the
ingest command run against the live database.

The shared Redis on 127.0.0.1:6379 is never stopped: other tests and other people use
it. A stopped private server is simply started again on the same port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tasks_app.tests.live import ROOT, Proc, free_port, spawn, wait_for


class PrivateRedis:
    """A redis-server of this test's own on a free port (no persistence)."""

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


class TcpProxy:
    """Forwards 127.0.0.1:<port> to an upstream TCP address until stopped.

    ``stop()`` is an outage: the listening socket closes (new connections are refused)
    and every forwarded connection is cut. ``start()`` serves again on the same port.
    ``hold()`` is a silent outage: connections are accepted and then never answered, as
    when the database host is gone without a word (packets dropped, no reset).
    """

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode = "stopped"
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        self._close_all()
        self.mode = "forward"
        self._listen()
        return self

    def hold(self) -> TcpProxy:
        self._close_all()
        self.mode = "hold"
        self._listen()
        return self

    def stop(self) -> None:
        self.mode = "stopped"
        self._close_all()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener, self.mode), daemon=True).start()

    def _accept(self, listener: socket.socket, mode: str) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            self._track(client)
            if mode == "hold":
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self._track(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _close_all(self) -> None:
        if self._listener is not None:
            # shutdown() first: close() alone leaves a thread blocked in accept() holding
            # the listening socket open, still accepting.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                # An abortive close (RST): the peer learns at once that the link is gone.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()
            except OSError:
                pass


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python manage.py ARGS`` with the deployment's environment; fails loudly."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def start_manage(env: dict[str, str], log_dir: Path, name: str, *args: str) -> Proc:
    """``python manage.py ARGS`` in the background (a process group of its own)."""
    return spawn(name, [sys.executable, "manage.py", *args], env, log_dir)


def upload(base: str, token: str, name: str, data: bytes, timeout: float = 15) -> tuple[int, dict]:
    """POST upload/ as multipart, the way a script would."""
    boundary = "vframe-hardening-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(base + "/api/v1/upload/", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


def timed(call):
    """(seconds, result) of ``call()``: how long a request took to be answered at all."""
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result
