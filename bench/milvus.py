#!/usr/bin/env python
"""hnswlib and Milvus side by side in one run: the same synthetic vectors in two
features of one deployment, one with index type ``hnsw`` (files loaded into every web
process) and one with index type ``milvus`` (a collection searched by Milvus; here
milvus-lite, the Milvus engine binary from PyPI, hosted by this process as a
deployment's first process would).

What it measures, in a throwaway data dir and SQLite database:

1. build throughput: ``feature_update_index`` of each feature from the same stored
   vectors (nothing to embed), items per second;
2. recall@10 of the API's answers (search/media, query item excluded) against exact
   brute force over the stored vectors;
3. search/media p50 / p99 through a live uvicorn server, one request in flight, the two
   features interleaved query by query so machine noise hits both alike;
4. memory of the web process: RSS after warming up on two small features (64 items on
   each backend), after searching the big Milvus feature, and after loading the big
   hnsw feature. Milvus's growth must not depend on the index size.

Targets: recall@10 >= 0.98 on both; Milvus p50 <= 3 x hnswlib p50; web memory
independent of the index size on Milvus.

    python bench/milvus.py                   # 100k items, 300 queries
    python bench/milvus.py --items 20000 --queries 100   # quick check

Only loopback traffic; every loop is bounded; the server (and milvus-lite, which stops
with this process) end on exit. Figures on a small shared machine are noisy: read the
side-by-side ratios and the load average printed with them.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from search import (  # noqa: E402
    DIM,
    MODEL,
    PICTURE_SIZE,
    Client,
    Server,
    _kill_children,
    bench_picture,
    configure_env,
    exact_top,
    free_port,
    rss_bytes,
    summary_ms,
    synthetic_vectors,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGETS = {"recall": 0.98, "p50_ratio": 3.0}
PICTURES = 256


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg} (load {os.getloadavg()[0]:.1f})", flush=True)


def build_features(n: int) -> dict:
    """N media rows, a big and a 64-item feature on each backend, built; what the
    measurement needs."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from media_app.models import Media, MediaType
    from search_app.indexing.build import feature_update_index
    from search_app.indexing.layout import vector_store
    from search_app.models import Feature

    call_command("migrate", verbosity=0, interactive=False)
    # A search by media reads its query's picture and the geometric check the top hits':
    # the rows share PICTURES files (one per row would be a million files at 1M items).
    rng = np.random.default_rng(7)
    pictures = [default_storage.save(f"media/bench/p{k:03d}.jpg", ContentFile(bench_picture(rng)[1])) for k in range(PICTURES)]

    def add_rows(start: int, stop: int) -> None:
        with transaction.atomic():
            for lo in range(start, stop, 5000):
                Media.objects.bulk_create(
                    [
                        Media(
                            sha256=hashlib.sha256(f"vframe-bench-{i}".encode()).hexdigest(),
                            media_type=MediaType.IMAGE,
                            file=pictures[i % PICTURES],
                            width=PICTURE_SIZE[0],
                            height=PICTURE_SIZE[1],
                            format="JPEG",
                            byte_size=20_000,
                            original_name=f"bench-{i:08d}.jpg",
                        )
                        for i in range(lo, min(stop, lo + 5000))
                    ]
                )

    token = Token.objects.create(user=get_user_model().objects.create_user("bench", password=None)).key
    vectors = synthetic_vectors(n)
    # The small features first, over the first 64 rows only: a build embeds every media
    # without a stored vector.
    add_rows(0, 64)
    first = np.fromiter(Media.objects.order_by("pk").values_list("pk", flat=True), dtype=np.int64)
    small = {}
    for kind in ("hnsw", "milvus"):
        feature = Feature.objects.create(modelzoo_name=MODEL, index_type=kind, username="bench-small", active=False)
        vector_store(feature.pk, DIM).append(first, vectors[:64])
        feature_update_index(feature=feature)
        small[kind] = feature.pk
    add_rows(64, n)
    ids = np.fromiter(Media.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20000), dtype=np.int64)
    log(f"{ids.size} media rows and vectors ready")

    features, build = {}, {}
    for kind in ("hnsw", "milvus"):
        big = Feature.objects.create(modelzoo_name=MODEL, index_type=kind, username="bench", active=False)
        store = vector_store(big.pk, DIM)
        for start in range(0, ids.size, 4096):  # INDEX_SHARD_ITEMS' default shard size
            store.append(ids[start : start + 4096], vectors[start : start + 4096])
        t0 = time.perf_counter()
        result = feature_update_index(feature=big)
        seconds = time.perf_counter() - t0
        big.refresh_from_db()
        if big.status != "ready" or big.item_count != ids.size:
            raise SystemExit(f"{kind} build went wrong: {result} {big.status} {big.error}")
        build[kind] = {"seconds": round(seconds, 1), "items_per_s": round(ids.size / seconds), "load_avg": round(os.getloadavg()[0], 1)}
        features[kind] = {"big": big.pk, "small": small[kind]}
        log(f"{kind}: built {ids.size} in {seconds:.1f} s ({ids.size / seconds:.0f} items/s)")
    connection.close()
    return {"ids": ids, "vectors": vectors, "token": token, "features": features, "build": build}


def measure(data: dict, server: Server, queries: int, seed: int = 7) -> dict:
    ids, vectors, features = data["ids"], data["vectors"], data["features"]
    client = Client(server.port, data["token"])
    pid = server.proc.pid

    def search(feature_id: int, media_id: int, limit: int = 10) -> list[int]:
        res = client.get_json(f"/api/v1/search/media/{media_id}/?feature={feature_id}&limit={limit}")
        return [hit["media"]["id"] for hit in res["results"]]

    # Warm-up: code paths, the model registry, both small features.
    for kind in ("hnsw", "milvus"):
        for media_id in ids[:20].tolist():
            search(features[kind]["small"], media_id)
    rss_warm = rss_bytes(pid)

    rows = np.random.default_rng(seed).choice(ids.size, size=min(queries, ids.size), replace=False)
    truth = exact_top(vectors, rows, 10)
    times = {"hnsw": [], "milvus": []}
    recall = {"hnsw": [], "milvus": []}
    # Milvus first for a few queries, so the RSS reading after them has no hnsw index in it.
    for row in rows[:20].tolist():
        search(features["milvus"]["big"], int(ids[row]))
    rss_after_milvus = rss_bytes(pid)
    for n, (row, expected) in enumerate(zip(rows.tolist(), truth, strict=True)):
        order = ("hnsw", "milvus") if n % 2 else ("milvus", "hnsw")
        for kind in order:
            t0 = time.perf_counter()
            got = search(features[kind]["big"], int(ids[row]))
            times[kind].append(time.perf_counter() - t0)
            recall[kind].append(len(set(got) & set(ids[expected].tolist())) / 10)
    rss_after_hnsw = rss_bytes(pid)
    client.close()
    out = {kind: {**summary_ms(times[kind]), "recall_at_10": round(float(np.mean(recall[kind])), 4)} for kind in times}
    out["memory"] = {
        "rss_warm_mib": round(rss_warm / 2**20, 1),
        "milvus_growth_mib": round((rss_after_milvus - rss_warm) / 2**20, 1),
        "hnsw_growth_mib": round((rss_after_hnsw - rss_after_milvus) / 2**20, 1),
    }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="vframe-bench-milvus-"))
    atexit.register(_kill_children)
    if not args.keep:
        atexit.register(shutil.rmtree, data_dir, True)
    env = configure_env(argparse.Namespace(database_url=None), data_dir, threads=1)
    import django

    django.setup()
    load_start = os.getloadavg()
    log(f"{args.items} items, data dir {data_dir}")
    data = build_features(args.items)

    port = free_port()
    app = "vframe_search.asgi:application"
    server = Server(
        "uvicorn",
        [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"],
        port,
        data_dir / "uvicorn.log",
    )
    server.start(env)
    server.wait_ready(data["token"])
    figures = measure(data, server, args.queries)
    figures.update(
        items=int(args.items), build=data["build"], load_avg_start=[round(x, 1) for x in load_start], load_avg_end=[round(x, 1) for x in os.getloadavg()]
    )
    ratio = figures["milvus"]["p50_ms"] / figures["hnsw"]["p50_ms"]
    figures["p50_ratio"] = round(ratio, 2)
    figures["targets"] = {
        "recall_hnsw": figures["hnsw"]["recall_at_10"] >= TARGETS["recall"],
        "recall_milvus": figures["milvus"]["recall_at_10"] >= TARGETS["recall"],
        "p50_ratio": ratio <= TARGETS["p50_ratio"],
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
