"""Connecting to Milvus: this process's client, milvus-lite hosting, and Milvus errors
as 503s.

``settings.MILVUS_URI`` (``VFRAME_MILVUS_URI``) is ``http://host:19530`` (or https,
tcp, unix:) for a Milvus server or cluster, or a file path for milvus-lite, the Milvus
engine binary from PyPI over one local file (the default: ``<data dir>/milvus/vframe.db``).
milvus-lite lets one process open a file, so the first process of this deployment that
needs it runs the binary on a unix socket named after the file (:class:`_LiteHost`) and
every other process (web workers, Celery, commands) talks to that socket; when the host
process ends, the next call takes the hosting over.

Every call waits at most ``MILVUS_TIMEOUT`` seconds (``MILVUS_WRITE_TIMEOUT`` for a
build's writes): an unreachable Milvus is a 503 ``index_unavailable`` within that time.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import math
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from core.errors import InvalidInput, ServiceUnavailable

logger = logging.getLogger(__name__)


class IndexUnavailable(ServiceUnavailable):
    code = "index_unavailable"


class CollectionMissing(ServiceUnavailable):
    code = "index_missing"


# --- where Milvus is ----------------------------------------------------------------------------------


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


class _LiteHost:
    """Runs milvus-lite's engine binary for one database file, on a unix socket every
    process of the deployment can find (named after the file's path).

    The binary stops once the ``lockf`` lock its host holds on ``.<name>.lock`` is
    released, i.e. when the host process ends. Whoever takes that lock hosts; a process
    that cannot take it connects to the socket of the process that did.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        if len(self.path.name) > 36 or not self.path.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise InvalidInput(f"VFRAME_MILVUS_URI: milvus-lite needs a file name of at most 36 letters, digits, '.', '-', '_' ({self.path.name!r}).")
        digest = hashlib.sha256(str(self.path).encode()).hexdigest()[:16]
        self.socket = Path(tempfile.gettempdir()) / f"vframe-milvus-{digest}.sock"
        self.lock_path = self.path.parent / f".{self.path.name}.lock"
        self._lock_fd = None
        self._proc: subprocess.Popen | None = None
        self._pid = 0

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    def hosting(self) -> bool:
        return self._proc is not None and self._pid == os.getpid() and self._proc.poll() is None

    def ensure(self, wait: float) -> str:
        """The socket address, after starting the binary here if nobody hosts it."""
        if self.hosting():
            return self.address
        if self._lock_fd is not None and self._pid == os.getpid():
            fd = self._lock_fd  # we host, but the binary died: start it again
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = open(self.lock_path, "a")  # noqa: SIM115 - held open for as long as we host
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fd.close()
                self._wait_socket(wait)  # another process hosts (or is starting to)
                return self.address
        self.socket.unlink(missing_ok=True)  # left by a host that died
        spec = importlib.util.find_spec("milvus_lite")
        if spec is None or not spec.submodule_search_locations:
            fd.close()
            raise IndexUnavailable("milvus-lite is not installed (pip install milvus-lite==2.5.1), and VFRAME_MILVUS_URI names a local file.")
        bin_dir = Path(list(spec.submodule_search_locations)[0]) / "lib"
        env = {**os.environ, "LD_LIBRARY_PATH": f"{bin_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
        args = [str(bin_dir / "milvus"), str(self.path), self.address, os.environ.get("VFRAME_MILVUS_LITE_LOG", "ERROR"), str(self.lock_path)]
        self._proc = subprocess.Popen(args, env=env, cwd=str(self.path.parent), stdin=subprocess.DEVNULL)
        self._lock_fd, self._pid = fd, os.getpid()
        logger.info("milvus-lite for %s started (pid %s) on %s", self.path, self._proc.pid, self.socket)
        self._wait_socket(max(wait, 30.0))
        return self.address

    def _wait_socket(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            if self._proc is not None and self._pid == os.getpid() and self._proc.poll() is not None:
                raise IndexUnavailable(f"milvus-lite for {self.path} exited with status {self._proc.returncode} at start.")
            try:
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.settimeout(0.5)
                    sock.connect(str(self.socket))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise IndexUnavailable(f"milvus-lite for {self.path} does not answer on {self.socket}.") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop hosting (tests): releasing the lock stops the binary."""
        if self._lock_fd is not None and self._pid == os.getpid():
            self._lock_fd.close()
            self._lock_fd = None
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
        self._proc = None


_hosts: dict[str, _LiteHost] = {}
_clients: dict[tuple[int, str], Any] = {}
_guard = threading.Lock()


def timeout_s(write: bool = False) -> int:
    """Whole seconds: pymilvus bounds its retries of an unreachable server by the call's
    timeout only when it is an int (a float lets it retry 75 times, minutes)."""
    return max(1, math.ceil(float(settings.MILVUS_WRITE_TIMEOUT if write else settings.MILVUS_TIMEOUT)))


def client(*, fresh: bool = False):
    """This process's client of ``settings.MILVUS_URI`` (gRPC channels do not survive a
    fork: one per process). IndexUnavailable when Milvus does not answer in time."""
    from pymilvus import MilvusClient

    uri = settings.MILVUS_URI
    key = (os.getpid(), uri)
    with _guard:
        if not fresh and key in _clients:
            return _clients[key]
        _clients.pop(key, None)
        address = uri
        if is_lite(uri):
            host = _hosts.get(uri)
            if host is None:
                host = _hosts[uri] = _LiteHost(Path(uri))
            address = host.ensure(timeout_s())
        try:
            made = MilvusClient(uri=address, token=settings.MILVUS_TOKEN or "", timeout=timeout_s())
        except Exception as exc:
            raise IndexUnavailable(f"Milvus at {_shown(uri)} is unreachable: {_reason(exc)}") from None
        _clients[key] = made
        return made


def reset() -> None:
    """Forget this process's clients and stop hosting milvus-lite (tests, settings changes)."""
    with _guard:
        for made in _clients.values():
            try:
                made.close()
            except Exception:
                pass
        _clients.clear()
        for host in _hosts.values():
            host.stop()
        _hosts.clear()


def _shown(uri: str) -> str:
    return uri.split("@")[-1]  # no credentials in messages


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc)[:500]


def _missing(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 100 or "collection not found" in str(exc).lower()


def call(fn: Callable[[Any], Any], *, what: str, collection: str = "", write: bool = False) -> Any:
    """``fn(client)`` with Milvus errors as 503s: CollectionMissing when ``collection``
    is gone, IndexUnavailable otherwise. With milvus-lite, a host that went away is
    replaced (this process may take the hosting over) and the call made once more."""
    attempts = 2 if is_lite(settings.MILVUS_URI) else 1
    for attempt in range(attempts):
        try:
            return fn(client(fresh=attempt > 0))
        except ServiceUnavailable:
            if attempt + 1 == attempts:
                raise
        except Exception as exc:
            if collection and _missing(exc):
                raise CollectionMissing(f"Milvus collection {collection} is gone.") from None
            if attempt + 1 == attempts:
                raise IndexUnavailable(f"Milvus at {_shown(settings.MILVUS_URI)} could not {what}: {_reason(exc)}") from None
            logger.warning("milvus: %s failed (%s); reconnecting", what, _reason(exc))
    raise AssertionError("unreachable")
