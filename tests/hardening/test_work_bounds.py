"""The task and batch side of the second hardening round, each attack or fault played
against real processes (daphne, Celery workers, a redis-server) on the hardening
deployment:

- hostile batch requests (ZIP bombs, ZIPs of thousands of entries, oversized bodies,
  batches larger than the user's rates, forged task parameters) are refused with a 4xx
  before the work, cheaply, leaving no upload, no task run and no file behind;
- one curator's task flood neither passes the per-user quota nor keeps a staff task
  waiting in the in-process pool;
- a task whose Celery worker is SIGKILLed is marked failed once the worker is gone, and
  frees its place in the quota;
- a stalled Redis (up, not answering) no longer stalls rate-limited requests;
- the settings routes change nothing on a GET.

The bad-input cases, and where each is also tested in-process:

==========================================  ==========================================================================
20 bzip2 members declaring 50 MiB (3.4 KB)  search_app/tests/api/test_batch.py::test_bzip2_bomb_of_the_issue_is_refused_from_its_directory_in_little_cpu
bzip2, LZMA and deflate bombs under the     ::test_bomb_members_under_the_total_are_skipped_unread
total limit
a ZIP of more entries than allowed          ::test_a_zip_with_more_entries_than_allowed_is_a_413_before_its_directory_is_parsed
an end record understating its entries      ::test_a_zip_whose_end_record_understates_its_entries_is_still_a_413
10,000 one-byte files                       ::test_a_zip_of_10000_tiny_files_keeps_the_task_row_small
a body above the batch limit                ::test_a_body_above_the_batch_limit_is_a_413_before_it_is_parsed
an encrypted member                         (here only)
more files than the upload rate allows      ::test_a_batch_counts_each_image_against_the_upload_and_search_rates
task/run/ with 501 queries                  ::test_task_run_refuses_more_queries_than_a_batch_holds
task/run/ with made-up skipped entries      ::test_skipped_entries_cannot_be_made_up_through_task_run
a folder batch through symlinks out         ::test_a_folder_batch_does_not_follow_links_out_of_the_allowed_folders
==========================================  ==========================================================================
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest

from tests.harness import Api, PrivateRedis, http, manage, wait_for
from tests.images import make_image_bytes

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _encrypted_member_zip() -> bytes:
    """A ZIP whose one member has the 'encrypted' flag (zipfile writes no encryption)."""
    data = bytearray(_zip({"secret.jpg": make_image_bytes(32, 24, seed=1)}, zipfile.ZIP_STORED))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature)
        data[at + flag_at] |= 0x01
    return bytes(data)


def _lying_end_record(entries: int) -> bytes:
    data = bytearray(_zip({f"{i}.jpg": b"x" for i in range(entries)}, zipfile.ZIP_STORED))
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2
    return bytes(data)


def _batch(base: str, token: str, *, files: list[tuple[str, bytes]] = (), archive: bytes | None = None, timeout: float = 60) -> tuple[int, dict]:
    """POST search/batch/ as multipart, the way a script would."""
    boundary = f"vframe-{uuid.uuid4().hex}"
    parts = [("files", name, data) for name, data in files]
    if archive is not None:
        parts.append(("zip", "batch.zip", archive))
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
        for field, name, data in parts
    )
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(base + "/api/v1/search/batch/", data=body, method="POST")
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stored_files(data_dir) -> set[str]:
    root = data_dir / "files"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _count(api, path: str) -> int:
    status, body = api.get(path)
    assert status == 200, body
    return body["res"]["count"]


def test_hostile_batches_are_refused_before_the_work_and_leave_nothing_behind(live):
    # Each refused request that got as far as reading a ZIP's directory counts as one
    # upload (5 below), so 8 a minute leave room for 3 images, not 5.
    env = live.env_with(VFRAME_BATCH_MAX_BYTES=str(4 * MiB), VFRAME_THROTTLE_UPLOAD="8/min")
    server, base = live.server(env)
    token = live.tokens["curator"]
    api, boss = live.api(base), live.api(base, "boss")
    uploads, runs, files = _count(api, "/api/v1/upload/"), _count(boss, "/api/v1/task/recent/"), _stored_files(live.data_dir)

    # The ZIP: 3.4 KB, 20 bzip2 members declaring 50 MiB each; reading them cost
    # the server 5.6 s of CPU. Refused from its central directory now.
    bomb = _zip({f"m{i:02d}.jpg": b"\0" * (50 * MiB) for i in range(20)}, zipfile.ZIP_BZIP2)
    assert len(bomb) < 8 * 1024
    cpu = _cpu_seconds(server.popen.pid)
    status, body = _batch(base, token, archive=bomb)
    cpu = _cpu_seconds(server.popen.pid) - cpu
    assert (status, body["error"]["code"]) == (413, "zip_too_large"), body
    assert cpu < 1.0, f"the server spent {cpu:.2f} s of CPU refusing it"

    cases = {
        # Under the total limit: each member refused unread, for its method or its ratio.
        "bzip2 members": (_zip({f"b{i}.jpg": b"\0" * (50 * MiB) for i in range(8)}, zipfile.ZIP_BZIP2), 400, "invalid"),
        "lzma members": (_zip({f"l{i}.jpg": b"\0" * (20 * MiB) for i in range(3)}, zipfile.ZIP_LZMA), 400, "invalid"),
        "deflate bomb": (_zip({f"d{i}.jpg": b"\0" * (50 * MiB) for i in range(8)}), 400, "invalid"),
        "1,001 entries": (_zip({f"{i}.jpg": b"x" for i in range(1001)}, zipfile.ZIP_STORED), 413, "too_many_members"),
        "10,000 one-byte files": (_zip({f"{i:05d}.jpg": b"x" for i in range(10_000)}, zipfile.ZIP_STORED), 413, "too_many_members"),
        "end record understating": (_lying_end_record(1200), 413, "too_many_members"),
        "encrypted member": (_encrypted_member_zip(), 400, "invalid"),
        "not a ZIP": (b"PK\x03\x04 but nothing else", 400, "invalid"),
    }
    for name, (archive, expected, code) in cases.items():
        cpu = _cpu_seconds(server.popen.pid)
        status, body = _batch(base, token, archive=archive)
        cpu = _cpu_seconds(server.popen.pid) - cpu
        assert (status, body.get("error", {}).get("code")) == (expected, code), (name, body)
        assert cpu < 2.0, f"{name}: {cpu:.2f} s of CPU"

    # A body above the batch limit: 413 before the multipart parser reads it.
    status, body = _batch(base, token, files=[("big.jpg", b"\0" * (5 * MiB))])
    assert (status, body["error"]["code"]) == (413, "too_large"), body
    # More images than the upload rate: refused whole, before any is stored.
    images = [(f"{n}.jpg", make_image_bytes(48, 36, seed=200 + n)) for n in range(5)]
    status, body = _batch(base, token, files=images)
    assert (status, body["error"]["code"]) == (429, "throttled"), body

    # Limits that task/run/ used to let through.
    queries = [{"upload_id": 1, "name": f"q{n}.jpg"} for n in range(501)]
    status, body = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": {"queries": queries}})
    assert status == 400 and "queries" in body["error"]["fields"]["params"], body
    forged = [{"name": "evidence.jpg", "code": "tampered", "message": "Refused by the server."}]
    status, body = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": {"queries": queries[:1], "skipped": forged}})
    assert status == 400 and "skipped" in body["error"]["fields"]["params"], body

    # Nothing stored, no run recorded, no file written; no request was a 5xx.
    assert (_count(api, "/api/v1/upload/"), _count(boss, "/api/v1/task/recent/")) == (uploads, runs)
    assert _stored_files(live.data_dir) == files
    assert server.alive() and "Internal Server Error" not in server.output() and "Traceback" not in server.output()


def _task(api, task_id: str) -> dict:
    status, body = api.get(f"/api/v1/task/{task_id}/")
    assert status == 200, body
    return body["res"]


def _new_curator(live) -> str:
    """A curator of the test's own (no runs of other tests count against its quota); its token."""
    out = manage(live.env, "create_curator", f"flood-{uuid.uuid4().hex[:8]}", "--password", "flood-pass-123456").stdout
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token: "))


def test_a_curators_task_flood_neither_passes_the_quota_nor_keeps_a_staff_task_waiting(live):
    """In-process tasks (no Redis): two 15 s test tasks of a curator used to hold both
    threads of the pool, and a staff task stayed PENDING until they ended."""
    env = live.env_with(REDIS_URL=None, VFRAME_TASKS_PER_USER="2", VFRAME_INLINE_TASK_WORKERS="2", VFRAME_INLINE_STAFF_TASK_WORKERS="1")
    server, base = live.server(env, name="daphne-inline")
    api, boss = Api(base, _new_curator(live)), live.api(base, "boss")
    mine = []
    for _ in range(2):
        status, body = api.post("/api/v1/task/test/", {"steps": 15, "interval": 1})
        assert status == 202, body
        mine.append(body["res"]["id"])
    wait_for(lambda: all(_task(api, t)["state"] == "STARTED" for t in mine), timeout=30, what="the curator's tasks to start")
    status, body = api.post("/api/v1/task/test/", {"steps": 1, "interval": 0})
    assert (status, body["error"]["code"]) == (429, "too_many_tasks"), body
    assert "at most 2" in body["error"]["message"]

    started = time.monotonic()
    status, body = boss.post("/api/v1/task/test/", {"steps": 1, "interval": 0})
    assert status == 202, body
    staff_task = body["res"]["id"]
    done = wait_for(lambda: (t := _task(boss, staff_task))["state"] == "SUCCESS" and t, timeout=10, what="the staff task, beside the curator's")
    assert time.monotonic() - started < 10 and done["worker"].startswith("inline@")
    assert all(_task(api, t)["state"] == "STARTED" for t in mine)  # still running: the staff task did not wait for them

    for task_id in mine:
        assert api.post(f"/api/v1/task/{task_id}/cancel/")[0] in (200, 202)
    wait_for(lambda: all(_task(api, t)["state"] == "REVOKED" for t in mine), timeout=30, what="the curator's tasks to stop")
    status, body = api.post("/api/v1/task/test/", {"steps": 1, "interval": 0})
    assert status == 202, body  # their places are free again
    assert "Internal Server Error" not in server.output()


def test_a_task_whose_worker_is_killed_is_marked_failed_and_frees_its_place(live):
    env = live.env_with(VFRAME_TASKS_PER_USER="1")
    _, base = live.server(env)
    live.worker("q1", env, base)
    api = Api(base, _new_curator(live))
    status, body = api.post("/api/v1/task/test/", {"steps": 120, "interval": 0.5})
    assert status == 202, body
    victim = body["res"]["id"]
    wait_for(lambda: _task(api, victim)["state"] == "STARTED", timeout=60, what="the task to start")
    status, body = api.post("/api/v1/task/test/", {"steps": 1, "interval": 0})
    assert (status, body["error"]["code"]) == (429, "too_many_tasks"), body

    live.procs.pop().kill()  # q1 and its pool child: SIGKILL, no goodbye
    # Another worker notices it gone (at its start, then every presence timeout).
    live.worker("q2", env, base)
    lost = wait_for(lambda: (t := _task(api, victim))["state"] == "FAILURE" and t, timeout=60, what="the orphaned run to be marked failed")
    assert lost["error"].startswith("Worker lost") and "q1@" in lost["error"], lost
    status, body = api.post("/api/v1/task/test/", {"steps": 1, "interval": 0})
    assert status == 202, body  # the place the dead run held is free
    finished = wait_for(lambda: (t := _task(api, body["res"]["id"]))["state"] == "SUCCESS" and t, timeout=60, what="the next task on q2")
    assert finished["worker"].startswith("q2@")


def test_a_stalled_redis_does_not_stall_rate_limited_requests(live):
    redis = PrivateRedis(live.tmp).start()
    try:
        env = live.env_with(REDIS_URL=redis.url, VFRAME_REDIS_TIMEOUT="1", VFRAME_REDIS_CONNECT_TIMEOUT="1")
        server, base = live.server(env, name="daphne-stalled-redis")
        api = live.api(base)
        # A search (counted by the rate limit): 409 before this module's earlier tests make a feature, 200 after.
        answered = api.get("/api/v1/search/random/1/")[0]
        assert answered in (200, 409)
        os.kill(redis.proc.popen.pid, signal.SIGSTOP)  # up (the port accepts), never answers
        try:
            started = time.monotonic()
            status, body = api.get("/api/v1/search/random/1/", timeout=30)
            elapsed = time.monotonic() - started
            assert status == answered, body  # the limit is not applied: the search still answers
            assert elapsed < 5, f"a rate-limited request waited {elapsed:.1f} s on a stalled Redis"
            status, _ = http("GET", base + "/api/v1/media/", token=live.tokens["curator"], timeout=30)
            assert status == 200
        finally:
            os.kill(redis.proc.popen.pid, signal.SIGCONT)
        assert server.alive() and "Internal Server Error" not in server.output()
    finally:
        while live.procs:
            live.procs.pop().stop(timeout=10)
        redis.stop()


def test_the_settings_routes_change_nothing_on_a_get(live):
    _, base = live.server()
    boss = live.api(base, "boss")
    status, before = boss.get("/api/v1/search/info/")
    assert status == 200
    for path in ("/api/v1/search/load/1/", "/api/v1/search/load_detection_model/detector-random/"):
        status, body = boss.get(path)
        assert (status, body["error"]["code"]) == (405, "method_not_allowed"), body
    assert boss.get("/api/v1/search/info/")[1]["res"]["detection_model"] == before["res"]["detection_model"]
