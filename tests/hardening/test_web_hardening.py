"""The web side of the second hardening round, each attack or fault played against a real
server (daphne) on the hardening deployment:

- Markdown notes that took seconds per read are refused, or, stored before the limits,
  read and exported as plain text;
- guessing a password locks the account out, the right password included;
- /files/ hides another user's batch report and answers a folder with 404, not 500;
- a websocket from another port of the same host is refused, and signing out ends the
  sockets of that session;
- pages carry a Content-Security-Policy;
- the server sweeps the temporary files of killed uploads and tightens the data dir.
"""

from __future__ import annotations

import io
import os
import re
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from http.cookiejar import CookieJar

import pytest

from tests.harness import EventStream, free_port, http, manage, wait_for

pytestmark = pytest.mark.slow


def _nested_list(levels: int) -> str:
    return "\n".join("    " * level + "- item" for level in range(levels))


def _shell(live, code: str) -> str:
    """Run Python in the deployment (``manage.py shell``); its last printed line."""
    return manage(live.env, "shell", "-c", code).stdout.strip().splitlines()[-1]


def _timed(call):
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def _download(url: str, token: str, timeout: float = 30) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_hostile_notes_are_refused_and_those_stored_before_stay_readable(live):
    _, base = live.server()
    api = live.api(base)
    # Unclosed brackets: quadratic in plain Markdown (6.3 s a read at 8 KB), linear now.
    seconds, (status, body) = _timed(lambda: api.post("/api/v1/collection/", {"title": "Brackets", "notes": "[" * 8000}))
    assert status == 201, body
    assert seconds < 5, seconds
    collection = body["res"]["id"]
    seconds, (status, body) = _timed(lambda: api.get(f"/api/v1/collection/{collection}/"))
    assert status == 200 and seconds < 5 and "[" * 8000 in body["res"]["notes_html"], seconds
    # A 300-level nested list (180 KB): refused before anything is written.
    status, body = http("PATCH", f"{base}/api/v1/collection/{collection}/", token=live.tokens["curator"], body={"notes": _nested_list(300)})
    assert status == 400 and "notes" in body["error"]["fields"], body
    assert api.get(f"/api/v1/collection/{collection}/")[1]["res"]["notes"] == "[" * 8000
    # The same list stored before the limits existed: read and exported as plain text.
    nested = 'chr(10).join("    " * level + "- item" for level in range(300))'
    _shell(live, f"from collections_app.models import Collection; print(Collection.objects.filter(pk={collection}).update(notes={nested}))")
    seconds, (status, body) = _timed(lambda: api.get(f"/api/v1/collection/{collection}/"))
    assert status == 200 and seconds < 5, (status, seconds)
    assert "Shown as plain text" in body["res"]["notes_html"]
    status, data = _download(f"{base}/api/v1/collection/{collection}/export/", live.tokens["curator"])
    assert status == 200
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None and "Shown as plain text" in archive.read("report.html").decode()
    # Another curator reads it, but may not change it.
    other = live.api(base, "other")
    assert other.get(f"/api/v1/collection/{collection}/")[0] == 200
    status, body = http("PATCH", f"{base}/api/v1/collection/{collection}/", token=live.tokens["other"], body={"title": "mine"})
    assert status == 403 and body["error"]["code"] == "permission_denied"


class Browser:
    """Cookies and CSRF like a browser filling in the sign-in form."""

    def __init__(self, base: str):
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=data), timeout=15) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def sign_in(self, username: str, password: str) -> tuple[int, dict, str]:
        _, _, page = self.request("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request("/login/", {"csrfmiddlewaretoken": token, "username": username, "password": password})

    def sign_out(self) -> int:
        return self.request("/logout/", {"csrfmiddlewaretoken": self.cookie("csrftoken")})[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _clear_login_counters(live) -> None:
    import redis

    client = redis.Redis.from_url(live.redis_url)
    keys = list(client.scan_iter(match="*vframe:login:*", count=500))
    if keys:
        client.delete(*keys)


def test_guessing_a_password_locks_the_account_even_for_the_right_password(live):
    _shell(
        live,
        "from django.contrib.auth.models import User; User.objects.filter(username='guessed').delete(); print(User.objects.create_user('guessed', password='guessed-pass-123').pk)",
    )
    _, base = live.server()
    try:
        for attempt in range(4):
            status, _, page = Browser(base).sign_in("guessed", f"wrong-{attempt}")
            assert status == 200 and "correct username and password" in page
        status, headers, page = Browser(base).sign_in("guessed", "wrong-4")
        assert status == 429 and "Too many failed sign-ins" in page
        status, headers, page = Browser(base).sign_in("guessed", "guessed-pass-123")
        assert status == 429 and int(headers["Retry-After"]) > 0 and "Try again in 15 minutes" in page
        # The lockout is shared by every web process (the counters are in Redis): a second
        # server refuses too.
        _, second = live.server(name="daphne-2")
        assert Browser(second).sign_in("guessed", "guessed-pass-123")[0] == 429
    finally:
        _clear_login_counters(live)
    browser = Browser(base)
    status, headers, _ = browser.sign_in("guessed", "guessed-pass-123")
    assert status == 302 and browser.cookie("sessionid")


def test_files_hide_another_users_batch_report_and_a_folder_is_a_404(live):
    task_id = "f2b1c3d4-0000-4000-8000-00000000beef"
    path = _shell(
        live,
        "from django.contrib.auth.models import User; from django.core.files.base import ContentFile; "
        "from django.core.files.storage import default_storage; from tasks_app.models import TaskRun; "
        f"TaskRun.objects.filter(task_id='{task_id}').delete(); "
        f"TaskRun.objects.create(task_id='{task_id}', name='batch_search', user=User.objects.get(username='other'), state='SUCCESS'); "
        f"print(default_storage.save('reports/batch/{task_id}/0123abcd-report.html', ContentFile(b'<p>their matches</p>')))",
    )
    _, base = live.server()
    assert _download(f"{base}/files/{path}", live.tokens["curator"])[0] == 404
    assert _download(f"{base}/files/{path}", live.tokens["other"]) == (200, b"<p>their matches</p>")
    assert _download(f"{base}/files/{path}", live.tokens["boss"])[0] == 200
    for folder in ("reports", f"reports/batch/{task_id}", "reports/batch"):
        status, _ = _download(f"{base}/files/{folder}", live.tokens["boss"])
        assert status == 404, folder


def test_a_socket_from_another_port_is_refused_and_signing_out_ends_the_sessions_sockets(live):
    from websockets.exceptions import InvalidStatus

    _shell(
        live,
        "from django.contrib.auth.models import User; User.objects.filter(username='watcher').delete(); print(User.objects.create_user('watcher', password='watcher-pass-123').pk)",
    )
    _, base = live.server()
    ws_url = base.replace("http://", "ws://") + "/ws/v1/events/"
    browser = Browser(base)
    assert browser.sign_in("watcher", "watcher-pass-123")[0] == 302
    cookie = {"Cookie": f"sessionid={browser.cookie('sessionid')}"}
    # A page on another port of the same host is another site.
    elsewhere = EventStream(ws_url, headers=cookie, origin=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(InvalidStatus) as refused:
        elsewhere.connect()
    elsewhere.close()
    assert refused.value.response.status_code == 403
    stream = EventStream(ws_url, headers=cookie, origin=base)
    try:
        assert stream.connect()["user"] == "watcher"
        assert browser.sign_out() == 302
        closed = wait_for(lambda: [e for e in stream.events if e.get("event") == "closed"], timeout=15, what="the socket to close after the sign-out")
        assert "Signed out" in closed[0]["message"]
        wait_for(lambda: stream._ws.close_code is not None, timeout=10, what="the close code")
        assert stream._ws.close_code == 4401
    finally:
        stream.close()


def test_pages_carry_a_content_security_policy(live):
    _, base = live.server()
    status, headers, page = Browser(base).request("/login/")
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]


def test_the_server_sweeps_killed_uploads_and_makes_the_data_dir_private_as_it_starts(live):
    shard = live.data_dir / "files" / "media" / "ee" / "ff"
    shard.mkdir(parents=True, exist_ok=True)
    stale = shard / "eeff.jpg.incoming-00112233aabbccdd.tmp"
    fresh = shard / "eefe.jpg.incoming-44556677aabbccdd.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half an upload")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    live.data_dir.chmod(0o755)
    try:
        live.server()
        wait_for(lambda: not stale.exists(), timeout=30, what="the stale temporary file to be swept")
        assert fresh.exists()  # a write that may still be going on is left alone
        assert stat.S_IMODE(live.data_dir.stat().st_mode) == 0o700
    finally:
        fresh.unlink(missing_ok=True)


def test_an_upload_stored_by_the_server_is_not_readable_by_other_users(live):
    from tests.harness import upload
    from tests.images import make_image_bytes

    _, base = live.server()
    status, body = upload(base, live.tokens["curator"], "q.png", make_image_bytes(64, 48, fmt="PNG", seed=1414))
    assert status in (200, 201), body
    stored = live.data_dir / "files" / body["res"]["file_url"].split("/files/", 1)[1]
    assert stat.S_IMODE(stored.stat().st_mode) & 0o007 == 0
