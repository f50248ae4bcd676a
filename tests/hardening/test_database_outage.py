"""The database connection dropped and restored while the server runs.

A real daphne talks to PostgreSQL through a TCP proxy this test owns. Its backends are
killed with pg_terminate_backend; the proxy is stopped (connections cut, new ones
refused) and made to hold connections without answering (a database host gone without
a word). During an outage every request gets a prompt 503 ``database_unavailable`` in
the envelope, never a 500 or a hang; afterwards the same server process answers again.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.harness import upload

from .corpus import jpeg, pattern
from .faults import TcpProxy, timed

pytestmark = pytest.mark.slow

CONNECT_TIMEOUT = 2  # VFRAME_DB_CONNECT_TIMEOUT of the server under test
# Answered promptly: well under the client's own timeout, whatever the outage.
PROMPT = 10


def _via(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def _terminate_backends(database_url: str) -> int:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def _requests(live, base: str) -> dict:
    """One read, one write and one upload, as scripts send them."""
    api = live.api(base)
    return {
        "list media": lambda: api.get("/api/v1/media/"),
        "create collection": lambda: api.post("/api/v1/collection/", {"title": "during the outage?"}),
        "upload": lambda: upload(base, live.tokens["curator"], "query.jpg", jpeg(pattern(seed=77))),
    }


def _all_succeed(live, base: str) -> None:
    for what, call in _requests(live, base).items():
        status, body = call()
        assert status in (200, 201), (what, status, body)


def _all_unavailable(live, base: str) -> None:
    for what, call in _requests(live, base).items():
        seconds, (status, body) = timed(call)
        assert status == 503, (what, status, body)
        assert body["status"] == "error" and body["error"]["code"] == "database_unavailable", (what, body)
        assert seconds < PROMPT, (what, seconds)


def test_database_outage_gives_prompt_503s_and_the_same_server_recovers(live):
    url = live.database.url
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("the outage is simulated on PostgreSQL's TCP connection (DATABASE_URL=postgres://...); SQLite has none")
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        server, base = live.server(live.env_with(DATABASE_URL=_via(url, proxy), VFRAME_DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT)))
        pid = server.popen.pid
        _all_succeed(live, base)

        # Its connections killed on the server side: the next requests reconnect.
        assert _terminate_backends(url) >= 1
        _all_succeed(live, base)

        # The database unreachable: connections cut, new ones refused.
        proxy.stop()
        _all_unavailable(live, base)
        proxy.start()
        _all_succeed(live, base)

        # The database host gone silent: connections accepted, never answered.
        proxy.hold()
        _all_unavailable(live, base)
        proxy.start()
        _all_succeed(live, base)

        assert server.alive() and server.popen.pid == pid  # no restart
        assert "Internal Server Error" not in server.output()  # what Django logs for a 500
    finally:
        proxy.stop()
