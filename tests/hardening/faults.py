"""Faults the hardening tests inject beside the processes of tests/harness.py: a TCP
proxy in front of PostgreSQL they may cut or silence, and a stopwatch for how long an
answer took to come at all."""

from __future__ import annotations

import socket
import threading
import time

from tests.harness import free_port


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


def timed(call):
    """(seconds, result) of ``call()``: how long a request took to be answered at all."""
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result
