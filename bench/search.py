#!/usr/bin/env python
"""Search benchmark: a real server over a 100k-item index, measured against raw hnswlib.

What it does, in a throwaway data dir and database (nothing of yours is touched):

1. N Media rows, each with a small picture file (320 x 240 JPEG, a distinct blurred
   colour pattern: a search by media reads its query's picture and the geometric check
   reads the top hits', as on real data) and its perceptual hash, and one Feature (resnet18-random,
   512-d, default index parameters) whose vectors are synthetic, clustered,
   L2-normalised float32 - appended to the project's VectorStore and indexed by the
   project's own builder (``search_app.indexing.build.feature_update_index``), so the index
   file is exactly what the server loads.
2. Two servers of the same ASGI app on free loopback ports, both running during the
   whole measurement: daphne and uvicorn (``--workers 1``; h11 and asyncio, since
   httptools/uvloop/gunicorn are not installed here).
3. search-by-media latency (one request in flight, keep-alive), interleaved in blocks
   between raw ``hnswlib.knn_query`` (same index file, same query vectors, one thread),
   daphne and uvicorn, so machine noise hits all three alike. Recall@10 of the API
   answers against numpy brute force over the same stored vectors (query item excluded,
   as the API does).
4. search-by-new-upload: POST a fresh JPEG to upload/, then GET search/upload/<id>/
   (embeds it), against decode + forward + knn of the same JPEG in this process with
   the same model and torch thread count.
5. throughput with 8 concurrent keep-alive clients for ``--duration`` seconds per server.
6. memory of the loaded index: search/info's ``memory_bytes`` and the server's RSS
   growth across search/load/<id>/, scaled to 1M items, against hnswlib's own size
   (index file bytes per element, and a fresh process's RSS growth loading the file).
7. throughput of ``uvicorn --workers 2`` (``--multi-workers``): Django runs sync views
   on one thread per ASGI process, so more processes is how a server uses more cores.

Targets: p50 <= raw + 3 ms, p99 <= 2.5 x p50, recall@10 >= 0.98, upload
<= 1.15 x in-process, zero errors under load.

Run from the repository root with the project's venv::

    python bench/search.py                       # 100k items, SQLite
    python bench/search.py --items 5000 --queries 300 --duration 5   # quick check
    python bench/search.py --database-url postgres://postgres@127.0.0.1:5432/bench_search

The servers run with the per-user rate limits off (VFRAME_THROTTLE_SEARCH/UPLOAD=off):
one user's load test would otherwise measure 429s. Only loopback traffic; every loop is
bounded in count and time; the servers are killed on exit. Figures on a small shared machine are noisy: read the side-by-side ratios.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "resnet18-random"  # resnet18's architecture and cost, 512-d, no weights file
DIM = 512
CLUSTERS = 1000
SEED = 20240501
TARGETS = {"p50_over_raw_ms": 3.0, "p99_over_p50": 2.5, "recall": 0.98, "upload_ratio": 1.15}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- cleanup: every process we start dies with us ------------------------------------------------

_children: list[subprocess.Popen] = []


def _kill_children() -> None:
    for proc in _children:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # own session: the server and any child of it
            except ProcessLookupError:
                continue
    for proc in _children:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


atexit.register(_kill_children)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks


# --- environment, database ----------------------------------------------------------------------


def configure_env(args, data_dir: Path, threads: int) -> dict[str, str]:
    """Settings for this process and the servers (same env, so same database and files)."""
    for name in ("REDIS_URL", "VFRAME_S3_BUCKET", "VFRAME_DEBUG", "DATABASE_URL", "VFRAME_EMBED_DTYPE", "VFRAME_EMBED_DEVICE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "vframe_search.settings",
            "VFRAME_DATA_DIR": str(data_dir),
            "VFRAME_MODELS_DIR": str(data_dir / "models"),
            "VFRAME_ALLOW_RANDOM_WEIGHTS": "1",
            "VFRAME_EMBED_THREADS": str(threads),
            "VFRAME_LOG_LEVEL": "WARNING",
            # Per-user rate limits would refuse a load test from one user (429s): this
            # measures capacity, so they are off (VFRAME_THROTTLE_* = "off").
            "VFRAME_THROTTLE_SEARCH": "off",
            "VFRAME_THROTTLE_UPLOAD": "off",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    return dict(os.environ)


def _pg_admin(url: str):
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit((parts.scheme.replace("postgresql", "postgres"), parts.netloc, "/postgres", parts.query, ""))
    return psycopg.connect(admin, autocommit=True), name


def pg_create(url: str) -> str:
    """Create the (throwaway) database; an existing one is dropped only if its name says bench."""
    from psycopg import sql

    conn, name = _pg_admin(url)
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            if "bench" not in name:
                raise SystemExit(f"database {name!r} exists and its name has no 'bench' in it: refusing to drop it; name a throwaway one")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def pg_drop(url: str) -> None:
    from psycopg import sql

    conn, name = _pg_admin(url)
    with conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- data --------------------------------------------------------------------------------------------


def synthetic_vectors(n: int, *, seed: int = SEED) -> np.ndarray:
    """Clustered unit vectors: 1,000 Gaussian centres, each item its centre plus variation
    in a shared 64-d subspace plus isotropic noise (real embeddings have low intrinsic
    dimension and cluster by content; uniform random 512-d vectors are unrealistically
    hard for any ANN index, one-point clusters unrealistically easy)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sub = 64
    basis = np.linalg.qr(rng.standard_normal((DIM, sub)))[0].astype(np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    step = 20000
    for start in range(0, n, step):
        m = min(step, n - start)
        assign = rng.integers(0, CLUSTERS, m)
        x = centres[assign]
        x += (rng.standard_normal((m, sub), dtype=np.float32) @ basis.T) * np.float32(0.7 / np.sqrt(sub))
        x += rng.standard_normal((m, DIM), dtype=np.float32) * np.float32(0.7 / np.sqrt(DIM))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


PICTURE_SIZE = (320, 240)


def bench_picture(rng):
    """(image, JPEG bytes) of a distinct picture: an 8 x 6 grid of random colours
    enlarged to PICTURE_SIZE (soft edges and corners, as photographs have)."""
    from PIL import Image

    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(PICTURE_SIZE, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return img, buf.getvalue()


def _bench_media(i: int, rng) -> object:
    """Media row ``i`` with its picture file (bench_picture) written to storage, and its
    hash."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from media_app.models import Media, MediaType
    from modelzoo.phash import NO_HASH, picture_hash

    img, data = bench_picture(rng)
    name = default_storage.save(f"media/bench/{i:08d}.jpg", ContentFile(data))
    phash = picture_hash(img)
    return Media(
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=MediaType.IMAGE,
        file=name,
        width=PICTURE_SIZE[0],
        height=PICTURE_SIZE[1],
        format="JPEG",
        byte_size=len(data),
        original_name=f"bench-{i:08d}.jpg",
        phash=NO_HASH if phash is None else phash,
    )


def build_dataset(n: int) -> dict:
    """Media rows, a user + token, and a built Feature; returns what the benchmark needs."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from media_app.models import Media
    from search_app.indexing.build import feature_update_index
    from search_app.indexing.index import update_index_files
    from search_app.indexing.layout import feature_dir, vector_store
    from search_app.models import Feature

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    log(f"migrated in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    batch = 5000
    rng = np.random.default_rng(SEED)
    with transaction.atomic():
        for start in range(0, n, batch):
            Media.objects.bulk_create([_bench_media(i, rng) for i in range(start, min(n, start + batch))])
    ids = np.fromiter(Media.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20000), dtype=np.int64)
    log(f"{ids.size} media rows and picture files in {time.perf_counter() - t0:.1f} s")

    # Searches and uploads as an ordinary user; search/load (which sets what every
    # user searches) is staff-only, so the memory readings use a staff token.
    users = get_user_model().objects
    token = Token.objects.create(user=users.create_user("bench", password=None)).key
    staff_token = Token.objects.create(user=users.create_user("bench-staff", password=None, is_staff=True)).key
    feature = Feature.objects.create(modelzoo_name=MODEL, username="bench")  # default index params

    t0 = time.perf_counter()
    vectors = synthetic_vectors(ids.size)
    store = vector_store(feature.pk, DIM)
    shard = 4096  # INDEX_SHARD_ITEMS' default: the store looks like one built by the worker
    for start in range(0, ids.size, shard):
        store.append(ids[start : start + shard], vectors[start : start + shard])
    del vectors
    log(f"vectors generated and stored in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    result = feature_update_index(feature=feature)  # nothing to embed: only the index is built
    build_s = time.perf_counter() - t0
    feature.refresh_from_db()
    if feature.status != "ready" or result.get("embedded") or feature.item_count != ids.size:
        raise SystemExit(f"index build went wrong: {result}, status {feature.status}, count {feature.item_count}")
    log(f"index built in {build_s:.1f} s ({result})")
    stored_ids, stored_vectors = store.load()

    # A 64-item feature, loaded first in each server so that the RSS reading across the
    # big feature's load holds only the index (code paths, hnswlib import already warm).
    warm = Feature.objects.create(modelzoo_name=MODEL, username="bench-warm", active=False)
    warm_store = vector_store(warm.pk, DIM)
    warm_store.append(stored_ids[:64], stored_vectors[:64])
    meta = update_index_files(directory=feature_dir(warm.pk), store=warm_store, index_type="hnsw", params=warm.index_params, current_version=0, new_version=1)
    Feature.objects.filter(pk=warm.pk).update(index_version=1, item_count=meta["count"], status="ready", built_at=timezone.now())
    index_path = feature_dir(feature.pk) / f"index-v{feature.index_version}.bin"
    connection.close()  # the servers write (uploads): hold no SQLite handle meanwhile
    return {
        "feature_id": feature.pk,
        "warm_feature_id": warm.pk,
        "token": token,
        "staff_token": staff_token,
        "ids": stored_ids,
        "vectors": stored_vectors,
        "index_path": index_path,
        "params": dict(feature.index_params),
        "build_s": build_s,
    }


# --- processes -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None
    figures: dict = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)

    def start(self, env: dict[str, str]) -> None:
        fh = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child, closed with it
        env = {**env, **self.extra_env}
        self.proc = subprocess.Popen(self.argv, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        fh.close()
        _children.append(self.proc)

    def wait_ready(self, token: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, _ = Client(self.port, token, timeout=5).get("/api/v1/search/info/")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{self.name} did not answer within {timeout:.0f} s; see {self.log_path}")


def serve_server(data_dir: Path, workers: int, name: str = "serve.sh") -> Server:
    """The production command, scripts/serve.sh (gunicorn + uvicorn workers), on a free port."""
    port = free_port()
    env = {"PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers), "VIRTUAL_ENV": str(BIN.parent)}
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return Server(f"{name} -w {workers}", ["bash", str(REPO / "scripts" / "serve.sh")], port, data_dir / f"serve-{port}.log", extra_env=env)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (a gunicorn master and its workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return out


def memory_kinds(pid: int) -> dict[str, int]:
    """RSS, PSS (shared pages split between their sharers) and USS (private pages) of
    one process, in bytes, from /proc/<pid>/smaps_rollup."""
    fields = {"Rss": 0, "Pss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in fields:
                    fields[key] = int(rest.split()[0]) * 1024
    except OSError:
        return {"rss": 0, "pss": 0, "uss": 0}
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": fields["Private_Clean"] + fields["Private_Dirty"]}


def tree_pss(pid: int) -> int:
    """Memory a process tree holds (shared pages counted once): the sum of its PSS."""
    return sum(memory_kinds(p)["pss"] for p in tree_pids(pid))


def make_servers(data_dir: Path) -> list[Server]:
    app = "vframe_search.asgi:application"
    p1, p2 = free_port(), free_port()
    while p2 == p1:
        p2 = free_port()
    return [
        Server("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(p1), app], p1, data_dir / "daphne.log"),
        Server(
            "uvicorn",
            [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(p2), "--workers", "1", "--no-access-log", "--log-level", "warning"],
            p2,
            data_dir / "uvicorn.log",
        ),
    ]


# --- HTTP --------------------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection to a server on loopback."""

    def __init__(self, port: int, token: str, timeout: float = 60.0):
        self.port, self.timeout = port, timeout
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.reconnects = 0

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        hdrs = {**self.headers, **(headers or {})}
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection: one reconnect, counted.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.reconnects += 1
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def get_json(self, path: str, method: str = "GET") -> dict:
        status, body = self.request(method, path)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {body[:300]!r}")
        return json.loads(body)["res"]

    def close(self) -> None:
        self.conn.close()


def multipart(field_name: str, filename: str, data: bytes, content_type: str = "image/jpeg") -> tuple[bytes, str]:
    boundary = f"vframebench{uuid.uuid4().hex}"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n').encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- statistics ------------------------------------------------------------------------------------------


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3), "mean_ms": round(float(np.mean(ms)), 3) if ms else None}


def exact_top(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Row positions of the exact top-k by dot product for each query row, itself excluded."""
    out = np.empty((rows.size, k), dtype=np.int64)
    for start in range(0, rows.size, 256):
        part = rows[start : start + 256]
        sims = vectors[part] @ vectors.T
        sims[np.arange(part.size), part] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + part.size] = np.take_along_axis(top, order, axis=1)
    return out


# --- phases ----------------------------------------------------------------------------------------------


HNSW_PROBE = """
import sys, hnswlib
def rss():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
before = rss()
index = hnswlib.Index(space="cosine", dim=int(sys.argv[2]))
index.load_index(sys.argv[1])
print(rss() - before, index.element_count)
"""


def hnswlib_footprint(path: Path) -> dict:
    """RSS growth of a fresh Python process loading the index file with hnswlib alone."""
    out = subprocess.run([sys.executable, "-c", HNSW_PROBE, str(path), str(DIM)], capture_output=True, text=True, timeout=300, check=True)
    growth, count = (int(x) for x in out.stdout.split())
    return {"file_bytes": path.stat().st_size, "element_count": count, "rss_growth": growth}


class Raw:
    """The same index file in this process, queried with hnswlib directly (one thread)."""

    def __init__(self, path: Path, ef: int):
        import hnswlib

        self.index = hnswlib.Index(space="cosine", dim=DIM)
        self.index.load_index(str(path))
        self.ef = ef
        self.index.set_ef(ef)

    def knn(self, vec: np.ndarray, k: int) -> np.ndarray:
        labels, _ = self.index.knn_query(vec, k=k, num_threads=1)
        return labels[0]


def measure_memory(server: Server, data: dict) -> None:
    """RSS across search/load (which loads the index in this server process), after the
    64-item feature was loaded and searched (so only the big index is new)."""
    feature_id, warm_id = data["feature_id"], data["warm_feature_id"]
    client = Client(server.port, data["staff_token"])
    client.get_json(f"/api/v1/search/load/{warm_id}/", method="POST")
    for media_id in data["ids"][:5]:
        client.get_json(f"/api/v1/search/media/{int(media_id)}/?limit=10&feature={warm_id}")
    for _ in range(5):  # settle imports, connections, DRF caches before the first reading
        client.get_json("/api/v1/search/info/")
    time.sleep(0.5)
    before = rss_bytes(server.proc.pid)
    t0 = time.perf_counter()
    client.get_json(f"/api/v1/search/load/{feature_id}/", method="POST")
    load_s = time.perf_counter() - t0
    time.sleep(0.5)
    after = rss_bytes(server.proc.pid)
    info = client.get_json("/api/v1/search/info/")
    loaded = [x for x in info["loaded"] if x["feature_id"] == feature_id]
    server.figures["memory"] = {
        "rss_before": before,
        "rss_after": after,
        "rss_growth": after - before,
        "memory_bytes": loaded[0]["memory_bytes"] if loaded else None,
        "count": loaded[0]["count"] if loaded else None,
        "load_s": round(load_s, 3),
    }
    client.close()


def latency_phase(args, data: dict, raw: Raw, servers: list[Server], clients: dict[str, Client]) -> dict:
    """Interleaved blocks: raw hnswlib, then each server, rotating the order per block."""
    ids, limit, fid = data["ids"], args.limit, data["feature_id"]
    rng = np.random.default_rng(SEED + 1)
    n_q = min(args.queries, ids.size)
    picks = rng.choice(ids.size, size=n_q + args.warmup, replace=False)
    warm_rows, rows = picks[: args.warmup], picks[args.warmup :]
    vectors = data["vectors"]
    path = "/api/v1/search/media/{}/?limit={}&feature={}"

    for s in servers:  # warm-up: first searches import the ranking code, fill DB caches
        for r in warm_rows:
            status, body = clients[s.name].get(path.format(int(ids[r]), limit, fid))
            if status != 200:
                raise SystemExit(f"{s.name}: warm-up search answered {status}: {body[:500]!r}")
    for r in warm_rows:
        raw.knn(vectors[r], limit + 1)

    times: dict[str, list[float]] = {"raw": [], "raw_k256_ef256": [], **{s.name: [] for s in servers}}
    answers: dict[str, dict[int, list[int]]] = {s.name: {} for s in servers}
    raw_answers: dict[int, list[int]] = {}
    errors: dict[str, int] = {s.name: 0 for s in servers}
    first_error: dict[str, str] = {}
    deadline = time.monotonic() + args.phase_timeout
    block = 50
    targets = ["raw", "raw_k256_ef256", *[s.name for s in servers]]
    done_rows: list[int] = []
    for b, start in enumerate(range(0, rows.size, block)):
        if time.monotonic() > deadline:
            log(f"latency phase hit its {args.phase_timeout:.0f} s limit after {len(done_rows)} queries")
            break
        part = rows[start : start + block]
        shift = b % len(targets)
        for target in targets[shift:] + targets[:shift]:
            if target == "raw":
                raw.index.set_ef(raw.ef)
                for r in part:
                    t0 = time.perf_counter()
                    labels = raw.knn(vectors[r], limit + 1)
                    times["raw"].append(time.perf_counter() - t0)
                    raw_answers[int(r)] = [int(x) for x in labels if x != ids[r]][:limit]
            elif target == "raw_k256_ef256":
                # What the app asks of hnswlib for a first page (ranking.BLOCKS[0], ef >= k).
                raw.index.set_ef(256)
                for r in part:
                    t0 = time.perf_counter()
                    raw.knn(vectors[r], 256)
                    times[target].append(time.perf_counter() - t0)
                raw.index.set_ef(raw.ef)
            else:
                client = clients[target]
                for r in part:
                    url = path.format(int(ids[r]), limit, fid)
                    t0 = time.perf_counter()
                    try:
                        status, body = client.get(url)
                    except OSError as exc:
                        status, body = -1, repr(exc).encode()
                    times[target].append(time.perf_counter() - t0)
                    if status != 200:
                        errors[target] += 1
                        first_error.setdefault(target, f"{status} {body[:300]!r}")
                        continue
                    res = json.loads(body)["res"]
                    answers[target][int(r)] = [int(x["media"]["id"]) for x in res["results"]]
        done_rows.extend(int(r) for r in part)

    # Recall@10 against brute force over the same stored vectors, query item excluded.
    done = np.asarray(done_rows, dtype=np.int64)
    k = limit
    exact = exact_top(vectors, done, k)
    exact_sets = {int(r): {int(ids[p]) for p in row} for r, row in zip(done, exact, strict=True)}

    def recall(found: dict[int, list[int]]) -> float | None:
        vals = [len(set(found[r][:k]) & exact_sets[r]) / k for r in exact_sets if r in found]
        return round(float(np.mean(vals)), 4) if vals else None

    # How hard the data is for the graph: the same raw query at a low ef.
    raw.index.set_ef(max(16, limit + 1))
    low: dict[int, list[int]] = {}
    for r in done:
        low[int(r)] = [int(x) for x in raw.knn(vectors[r], limit + 1) if x != ids[r]][:limit]
    raw.index.set_ef(raw.ef)

    out = {
        "queries": int(done.size),
        "limit": limit,
        "raw_recall_low_ef": recall(low),
        "raw": summary_ms(times["raw"]),
        "raw_k256_ef256": summary_ms(times["raw_k256_ef256"]),
        "raw_recall": recall(raw_answers),
        "servers": {},
    }
    same = None
    if len(servers) == 2:
        a, b = (answers[s.name] for s in servers)
        common = [r for r in a if r in b]
        same = round(sum(a[r] == b[r] for r in common) / max(1, len(common)), 4)
    out["answers_identical_between_servers"] = same
    for s in servers:
        fig = summary_ms(times[s.name])
        fig.update(errors=errors[s.name], first_error=first_error.get(s.name), recall=recall(answers[s.name]))
        short = [r for r, v in answers[s.name].items() if len(v) != limit]
        fig["short_pages"] = len(short)
        out["servers"][s.name] = fig
    return out


def server_timing_sample(client: Client, data: dict, args, n: int = 200) -> dict:
    """The server's own timing_ms breakdown (median per part) over n searches."""
    ids = data["ids"]
    rng = np.random.default_rng(SEED + 2)
    parts: dict[str, list[float]] = {}
    for r in rng.choice(ids.size, size=min(n, ids.size), replace=False):
        res = client.get_json(f"/api/v1/search/media/{int(ids[r])}/?limit={args.limit}&feature={data['feature_id']}")
        for key, value in res["timing_ms"].items():
            parts.setdefault(key, []).append(value)
    return {key: round(pct(v, 50), 3) for key, v in parts.items()}


def make_jpegs(count: int, size: tuple[int, int], seed: int) -> list[bytes]:
    """Distinct photo-like JPEGs (gradients, shapes, noise): no two share a sha256."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / (w + h) + 0.5
        arr = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
        arr += rng.normal(0, 12, (h, w, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
            x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 3))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        draw.text((10, 10), f"bench {seed} {i}", fill=(255, 255, 255))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=88)
        out.append(buf.getvalue())
    return out


def upload_phase(args, data: dict, raw: Raw, servers: list[Server], clients: dict[str, Client]) -> dict:
    """POST upload + GET search/upload (first call embeds) vs load + forward + knn here."""
    import torch

    from modelzoo.embedding import get_embedder

    warm, n = 3, args.uploads
    targets = ["inprocess", *[s.name for s in servers]]
    jpegs = {t: make_jpegs(warm + n, (args.upload_width, args.upload_height), seed=SEED + 10 + i) for i, t in enumerate(targets)}
    embedder = get_embedder(MODEL)
    limit, fid = args.limit, data["feature_id"]
    times: dict[str, list[float]] = {t: [] for t in targets}
    post_times: dict[str, list[float]] = {s.name: [] for s in servers}
    get_times: dict[str, list[float]] = {s.name: [] for s in servers}
    server_parts: dict[str, list[dict]] = {s.name: [] for s in servers}
    errors: dict[str, int] = {s.name: 0 for s in servers}
    first_error: dict[str, str] = {}

    def inprocess(jpeg: bytes) -> float:
        t0 = time.perf_counter()
        vec = embedder.forward([embedder.load(jpeg)])[0]
        raw.knn(vec, limit + 1)
        return time.perf_counter() - t0

    def via_server(name: str, jpeg: bytes, i: int) -> tuple[float, float] | None:
        client = clients[name]
        body, ctype = multipart("image", f"bench-{name}-{i}.jpg", jpeg)
        t0 = time.perf_counter()
        status, resp = client.request("POST", "/api/v1/upload/", body=body, headers={"Content-Type": ctype})
        t1 = time.perf_counter()
        if status != 201:
            errors[name] += 1
            first_error.setdefault(name, f"upload {status} {resp[:300]!r}")
            return None
        upload_id = json.loads(resp)["res"]["id"]
        status, resp = client.get(f"/api/v1/search/upload/{upload_id}/?limit={limit}&feature={fid}")
        t2 = time.perf_counter()
        res = json.loads(resp).get("res") if status == 200 else None
        if res is None or len(res["results"]) != limit:
            errors[name] += 1
            first_error.setdefault(name, f"search {status} {resp[:300]!r}")
            return None
        server_parts[name].append(res["timing_ms"])
        return t2 - t0, t1 - t0

    for i in range(warm):  # loads the model in each process
        inprocess(jpegs["inprocess"][i])
        for s in servers:
            via_server(s.name, jpegs[s.name][i], i)
    for s in servers:
        errors[s.name] = 0
        first_error.pop(s.name, None)
        server_parts[s.name].clear()
    deadline = time.monotonic() + args.phase_timeout
    for i in range(warm, warm + n):
        if time.monotonic() > deadline:
            log(f"upload phase hit its {args.phase_timeout:.0f} s limit after {i - warm} uploads")
            break
        shift = i % len(targets)
        for t in targets[shift:] + targets[:shift]:
            if t == "inprocess":
                times[t].append(inprocess(jpegs[t][i]))
            else:
                got = via_server(t, jpegs[t][i], i)
                if got is not None:
                    times[t].append(got[0])
                    post_times[t].append(got[1])
                    get_times[t].append(got[0] - got[1])
    base = summary_ms(times["inprocess"])
    out = {
        "uploads": n,
        "image": f"{args.upload_width}x{args.upload_height} JPEG, ~{int(np.mean([len(j) for j in jpegs['inprocess']]) / 1024)} KiB",
        "torch_threads": torch.get_num_threads(),
        "inprocess": base,
        "servers": {},
    }
    for s in servers:
        fig = summary_ms(times[s.name])
        fig["post_p50_ms"] = summary_ms(post_times[s.name])["p50_ms"]
        fig["search_p50_ms"] = summary_ms(get_times[s.name])["p50_ms"]
        fig["search_ratio_p50"] = round(fig["search_p50_ms"] / base["p50_ms"], 3) if base["p50_ms"] else None
        parts = server_parts[s.name]
        fig["search_timing_p50_ms"] = {k: round(pct([p[k] for p in parts], 50), 2) for k in (parts[0] if parts else {})}
        fig["ratio_p50"] = round(fig["p50_ms"] / base["p50_ms"], 3) if base["p50_ms"] else None
        fig.update(errors=errors[s.name], first_error=first_error.get(s.name))
        out["servers"][s.name] = fig
    return out


def throughput_phase(args, data: dict, server: Server, token: str) -> dict:
    """``args.clients`` threads, each with its own keep-alive connection, for a fixed time."""
    ids, fid, limit = data["ids"], data["feature_id"], args.limit
    stop_at = time.monotonic() + args.duration
    lock = threading.Lock()
    totals = {"ok": 0, "errors": 0, "reconnects": 0}
    lat: list[float] = []
    first_error: list[str] = []
    max_requests = 1_000_000  # per thread; the duration ends it long before

    def worker(k: int) -> None:
        rng = np.random.default_rng(SEED + 100 + k)
        client = Client(server.port, token, timeout=30)
        ok = err = 0
        mine: list[float] = []
        try:
            for _ in range(max_requests):
                if time.monotonic() >= stop_at:
                    break
                url = f"/api/v1/search/media/{int(ids[rng.integers(ids.size)])}/?limit={limit}&feature={fid}"
                t0 = time.perf_counter()
                try:
                    status, body = client.get(url)
                except OSError as exc:
                    status, body = -1, repr(exc).encode()
                mine.append(time.perf_counter() - t0)
                if status == 200:
                    ok += 1
                else:
                    err += 1
                    if not first_error:
                        first_error.append(f"{status} {body[:300]!r}")
        finally:
            client.close()
            with lock:
                totals["ok"] += ok
                totals["errors"] += err
                totals["reconnects"] += client.reconnects
                lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,), name=f"bench-client-{k}") for k in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.duration + 90)
    elapsed = time.perf_counter() - t0
    stuck = sum(t.is_alive() for t in threads)
    return {
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "requests": totals["ok"],
        "req_per_s": round(totals["ok"] / elapsed, 1),
        "errors": totals["errors"] + stuck,
        "reconnects": totals["reconnects"],
        "first_error": first_error[0] if first_error else None,
        "p50_ms": round(pct([x * 1000 for x in lat], 50), 2),
        "p99_ms": round(pct([x * 1000 for x in lat], 99), 2),
    }


# --- report --------------------------------------------------------------------------------------------------


def per_million(value: float | None, count: int) -> float | None:
    return None if value is None or not count else value * 1_000_000 / count


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def report(fig: dict, servers: list[str]) -> list[str]:
    lines: list[str] = []
    add = lines.append
    lat = fig["latency"]
    raw = lat["raw"]
    add("")
    add(f"VFRAME Search benchmark: {fig['items']:,} items x {DIM}-d, M/efC/ef = {fig['params']}, db {fig['database']}, {fig['cpus']} CPUs")
    add(f"index build {fig['build_s']:.1f} s; {lat['queries']} queries, limit={lat['limit']}, one in flight")
    add("")
    col = 14
    add("figure".ljust(52) + "".join(n.rjust(col) for n in servers) + "   target")
    add("-" * (52 + col * len(servers) + 12))

    def row(label: str, values: list[str], target: str = "") -> None:
        add(label.ljust(52) + "".join(v.rjust(col) for v in values) + ("   " + target if target else ""))

    row("raw hnswlib knn p50 / p99 (k=limit+1, ef)", [f"{raw['p50_ms']:.3f}/{raw['p99_ms']:.3f}"] * len(servers))
    r256 = lat["raw_k256_ef256"]
    row("raw hnswlib knn p50 (k=256, ef=256)", [f"{r256['p50_ms']:.3f}"] * len(servers))
    s = lat["servers"]
    row("search/media p50 ms", [f"{s[n]['p50_ms']:.2f}" for n in servers])
    row("search/media p99 ms", [f"{s[n]['p99_ms']:.2f}" for n in servers])
    row("p50 - raw p50 ms", [f"{s[n]['p50_ms'] - raw['p50_ms']:.2f}" for n in servers], f"<= {TARGETS['p50_over_raw_ms']:g}")
    row("  verdict", [verdict(s[n]["p50_ms"] - raw["p50_ms"] <= TARGETS["p50_over_raw_ms"]) for n in servers])
    row("p99 / p50", [f"{s[n]['p99_ms'] / s[n]['p50_ms']:.2f}" for n in servers], f"<= {TARGETS['p99_over_p50']:g}")
    row("  verdict", [verdict(s[n]["p99_ms"] / s[n]["p50_ms"] <= TARGETS["p99_over_p50"]) for n in servers])
    row("errors (latency run)", [str(s[n]["errors"]) for n in servers])
    row(
        f"recall@{lat['limit']} vs exact (raw: {lat['raw_recall']}, ef16: {lat['raw_recall_low_ef']})",
        [str(s[n]["recall"]) for n in servers],
        f">= {TARGETS['recall']:g}",
    )
    row("  verdict", [verdict(s[n]["recall"] is not None and s[n]["recall"] >= TARGETS["recall"]) for n in servers])
    if fig.get("server_timing"):
        row(
            "server timing_ms median (total/knn/rank)", [f"{t['total']:.1f}/{t['knn']:.1f}/{t['rank']:.1f}" for t in (fig["server_timing"][n] for n in servers)]
        )
    up = fig.get("upload")
    if up:
        b = up["inprocess"]
        row(f"upload+search p50 ms (in-process {b['p50_ms']:.1f})", [f"{up['servers'][n]['p50_ms']:.1f}" for n in servers])
        row("  POST upload/ p50 ms", [f"{up['servers'][n]['post_p50_ms']:.1f}" for n in servers])
        row("  GET search/upload/<id>/ p50 ms (embeds)", [f"{up['servers'][n]['search_p50_ms']:.1f}" for n in servers])
        row(
            "  search/upload: server query_vector p50 ms",
            [f"{up['servers'][n]['search_timing_p50_ms'].get('query_vector', float('nan')):.1f}" for n in servers],
        )
        row("upload / in-process (p50)", [f"{up['servers'][n]['ratio_p50']:.2f}" for n in servers], f"<= {TARGETS['upload_ratio']:g}")
        row("  verdict", [verdict(up["servers"][n]["ratio_p50"] <= TARGETS["upload_ratio"]) for n in servers])
        row("  GET alone / in-process (p50)", [f"{up['servers'][n]['search_ratio_p50']:.2f}" for n in servers])
        row("upload errors", [str(up["servers"][n]["errors"]) for n in servers])
    tp = fig["throughput"]
    row(f"throughput req/s ({tp[servers[0]]['clients']} clients, {fig['duration']:g} s)", [f"{tp[n]['req_per_s']:.1f}" for n in servers])
    row("  p50 / p99 ms under load", [f"{tp[n]['p50_ms']:.0f}/{tp[n]['p99_ms']:.0f}" for n in servers])
    row("  errors", [str(tp[n]["errors"]) for n in servers], "0")
    row("  verdict", [verdict(tp[n]["errors"] == 0) for n in servers])
    multi = fig.get("throughput_multi")
    if multi:
        row(
            f"throughput {multi['name']} (throughput only)",
            [f"{multi['req_per_s']:.1f} req/s"],
            f"errors {multi['errors']}, p50/p99 {multi['p50_ms']:.0f}/{multi['p99_ms']:.0f} ms",
        )
    mem = fig["memory"]
    count = fig["items"]
    row("index memory_bytes per 1M items (search/info)", [mib(per_million(mem[n]["memory_bytes"], count)) for n in servers])
    row("server RSS growth per 1M items (search/load)", [mib(per_million(mem[n]["rss_growth"], count)) for n in servers])
    row("hnswlib file bytes per 1M items", [mib(per_million(fig["hnswlib"]["file_bytes"], fig["hnswlib"]["element_count"]))] * len(servers))
    row("hnswlib alone: RSS growth per 1M items", [mib(per_million(fig["hnswlib"]["rss_growth"], fig["hnswlib"]["element_count"]))] * len(servers))
    add("")
    failures = [(f"latency {n}", s[n]) for n in servers] + [(f"throughput {n}", tp[n]) for n in servers]
    failures += [(f"upload {n}", up["servers"][n]) for n in servers] if up else []
    failures += [(f"throughput {multi['name']}", multi)] if multi else []
    for label, entry in failures:
        if entry.get("errors"):
            add(f"ERRORS in {label}: {entry['errors']}, first: {entry.get('first_error')}")
    lat_best = min(servers, key=lambda n: s[n]["p50_ms"])
    tp_best = max(servers, key=lambda n: tp[n]["req_per_s"])
    add(f"faster: {lat_best} by p50 latency, {tp_best} by throughput")
    return lines


# --- main --------------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=100_000, help="media rows / vectors in the index (default 100,000)")
    p.add_argument("--queries", type=int, default=3000, help="search-by-media queries per target, after warm-up (default 3000)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up queries per server (default 200)")
    p.add_argument("--limit", type=int, default=10, help="results per search, and k of recall@k (default 10)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of the throughput run per server (default 20)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients in the throughput run (default 8)")
    p.add_argument("--uploads", type=int, default=20, help="measured new uploads per server (default 20)")
    p.add_argument("--upload-width", type=int, default=1024)
    p.add_argument("--upload-height", type=int, default=768)
    p.add_argument("--multi-workers", type=int, default=2, help="also measure throughput of uvicorn --workers N (default 2; 0 skips)")
    p.add_argument("--skip-upload", action="store_true", help="skip the search-by-new-upload phase (no model load)")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL of a throwaway database (created, dropped after); default a fresh SQLite file")
    p.add_argument("--keep", action="store_true", help="keep the data dir (and database) for inspection")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    p.add_argument("--phase-timeout", type=float, default=900.0, help="upper bound in seconds for each measuring phase (default 900)")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the servers and here (default: torch's default)")
    args = p.parse_args(argv)
    if args.items < args.limit + 2:
        p.error("--items must exceed --limit + 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    sys.path.insert(0, str(REPO))
    import torch

    threads = args.threads or torch.get_num_threads()
    data_dir = Path(tempfile.mkdtemp(prefix="vframe-bench-search-"))
    env = configure_env(args, data_dir, threads)
    pg_created = False
    log(f"data dir {data_dir}; database {'PostgreSQL ' + args.database_url if args.database_url else 'SQLite (fresh file)'}; torch threads {threads}")
    try:
        if args.database_url:
            pg_create(args.database_url)
            pg_created = True
        import django

        django.setup()
        data = build_dataset(args.items)
        raw = Raw(data["index_path"], int(data["params"]["ef"]))

        servers = make_servers(data_dir)
        for s in servers:
            s.start(env)
        for s in servers:
            s.wait_ready(data["token"])
            log(f"{s.name} up on 127.0.0.1:{s.port} (pid {s.proc.pid})")
        clients = {s.name: Client(s.port, data["token"]) for s in servers}
        for s in servers:
            measure_memory(s, data)
            log(f"{s.name}: index loaded in {s.figures['memory']['load_s']} s, RSS +{mib(s.figures['memory']['rss_growth'])}")

        figures: dict = {
            "items": int(data["ids"].size),
            "params": data["params"],
            "database": "postgresql" if args.database_url else "sqlite",
            "cpus": os.cpu_count(),
            "build_s": round(data["build_s"], 1),
            "duration": args.duration,
            "servers": {s.name: " ".join(Path(a).name if i == 0 else a for i, a in enumerate(s.argv)) for s in servers},
            "hnswlib": hnswlib_footprint(data["index_path"]),
            "memory": {s.name: s.figures["memory"] for s in servers},
        }

        log(f"latency: {args.queries} queries x (raw, raw k=256, {', '.join(s.name for s in servers)}), interleaved")
        figures["latency"] = latency_phase(args, data, raw, servers, clients)
        figures["server_timing"] = {s.name: server_timing_sample(clients[s.name], data, args) for s in servers}

        if not args.skip_upload:
            log(f"upload: {args.uploads} new JPEGs per server + the same in-process")
            figures["upload"] = upload_phase(args, data, raw, servers, clients)

        figures["throughput"] = {}
        for s in servers:
            log(f"throughput: {args.clients} clients for {args.duration:g} s against {s.name}")
            figures["throughput"][s.name] = throughput_phase(args, data, s, data["token"])
        for c in clients.values():
            c.close()
        for s in servers:
            figures["memory"][s.name]["rss_end"] = rss_bytes(s.proc.pid)

        if args.multi_workers > 1:
            # Django runs sync views on one thread per ASGI process, so one process
            # serves one request at a time: several worker processes is the way to use
            # more cores (each loads its own copy of the index).
            for s in servers:
                _stop(s.proc)
            port = free_port()
            multi = Server(
                f"uvicorn --workers {args.multi_workers}",
                [str(BIN / "uvicorn"), "vframe_search.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
                + ["--workers", str(args.multi_workers), "--no-access-log", "--log-level", "warning"],
                port,
                data_dir / "uvicorn-multi.log",
            )
            multi.start(env)
            multi.wait_ready(data["token"])
            log(f"throughput: {args.clients} clients for {args.duration:g} s against {multi.name} (after a 5 s warm-up that loads the index in each worker)")
            warm_args = argparse.Namespace(**{**vars(args), "duration": 5.0})
            throughput_phase(warm_args, data, multi, data["token"])
            figures["throughput_multi"] = {
                "name": multi.name,
                "server": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(multi.argv)),
                **throughput_phase(args, data, multi, data["token"]),
            }
            _stop(multi.proc)

        lines = report(figures, [s.name for s in servers])
        print("\n".join(lines), flush=True)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1, default=str))
            log(f"figures written to {args.json}")
        return 0
    finally:
        _kill_children()
        if args.keep:
            log(f"kept {data_dir}" + (f" and database {args.database_url}" if pg_created else ""))
        else:
            if pg_created:
                try:
                    from django.db import connections

                    connections.close_all()
                    pg_drop(args.database_url)
                except Exception as exc:  # report, do not mask the run's own outcome
                    log(f"could not drop the bench database: {exc}")
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
