#!/usr/bin/env python
"""Search latency while one curator sends hostile requests: the figure of the hardening
round (search p50 under that load within 2 x its p50 without it).

What it does, in a throwaway data dir and database (nothing of yours is touched):

1. The dataset of bench/search.py (``--items`` media rows and a built 512-d feature) and
   a second ordinary user, "hostile", with a token and a collection of their own.
2. The server: ``scripts/serve.sh``, the production command (two workers per core), on
   the embedded defaults (SQLite, no Redis: tasks run in the web processes' own pool) or
   on PostgreSQL + Redis with ``--database-url`` / ``--redis-url``.
3. One client searches (``GET search/media/<random id>/?limit=10``) back to back, as the
   ordinary user, through alternating phases of ``--phase`` seconds: quiet, then with
   the hostile load, ``--rounds`` times; quiet and loaded phases interleave so that the
   machine's other work falls on both alike.
4. The hostile load, one client process per kind (as another machine would be), each
   sending its request back to back:

   - ``notes``: ``PUT collection/<id>/`` with 8,000 "[" (stored) and then
     ``GET collection/<id>/``, which renders them; and a 300-level nested list
     (refused at write);
   - ``batch``: ``POST search/batch/`` with a ZIP bomb (one member that would expand to
     1 GiB from 1 MiB) and with a ZIP of 5,000 members;
   - ``tasks``: ``POST task/test/`` back to back (the per-user limit answers 429 once
     the user's tasks are queued or running).

Figures: the search p50 / p90 per kind of phase and their ratio, the hostile requests
sent per kind with their statuses and p50, and the load average. Run from the
repository root with the project's venv::

    python bench/hostile.py                    # 20,000 items, 3 rounds of 10 s
    python bench/hostile.py --items 2000 --rounds 1 --phase 5   # quick check
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _load_bench_search():
    spec = importlib.util.spec_from_file_location("bench_search", HERE / "search.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_search"] = module
    spec.loader.exec_module(module)
    return module


bs = _load_bench_search()
log = bs.log
UNREACHED_RATE = "1000000/min"  # the searcher's and the hostile user's rate limits never trip


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def hostile_user() -> tuple[str, int]:
    """The hostile curator's token and the collection they own."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from collections_app.models import Collection

    user = get_user_model().objects.create_user(username="hostile", password="hostile-pass-123")
    token = Token.objects.create(user=user).key
    collection = Collection.objects.create(title="hostile", user=user, username=user.username)
    pk = collection.pk
    connection.close()
    return token, pk


def zip_bomb() -> bytes:
    """One member of 1 GiB of zeros, deflated to about 1 MiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("bomb.jpg", "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(1024):
                member.write(block)
    return out.getvalue()


def zip_many(members: int = 5000) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i in range(members):
            z.writestr(f"m{i:05d}.jpg", b"x")
    return out.getvalue()


def nested_list(levels: int = 300) -> str:
    return "\n".join("  " * i + "- x" for i in range(levels))


# The hostile curator runs in processes of its own, as another client machine would: as
# threads of this process they would hold the GIL while the searcher's client waits for
# it, and the search latency measured here would include that wait.
_mp = multiprocessing.get_context("fork")


class Hostile(_mp.Process):
    """Sends one kind of hostile request back to back until stopped; counts statuses
    (sent back through ``results`` when it stops)."""

    def __init__(self, kind: str, port: int, token: str, collection_id: int, payloads: dict):
        super().__init__(daemon=True, name=f"hostile-{kind}")
        self.kind, self.payloads, self.collection_id = kind, payloads, collection_id
        self.port, self.token = port, token
        self.stop = _mp.Event()
        self.results = _mp.Queue()
        self.statuses: dict[str, int] = {}
        self.times: list[float] = []

    def _send(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> None:
        t0 = time.perf_counter()
        status, _ = self.client.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else None)
        self.times.append((time.perf_counter() - t0) * 1000)
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def run(self) -> None:
        self.client = bs.Client(self.port, self.token, timeout=120)
        i = 0
        while not self.stop.is_set():
            i += 1
            if self.kind == "notes":
                notes = self.payloads["brackets"] if i % 2 else self.payloads["nested"]
                body = json.dumps({"title": "hostile", "notes": notes}).encode()
                self._send("PUT", f"/api/v1/collection/{self.collection_id}/", body, "application/json")
                self._send("GET", f"/api/v1/collection/{self.collection_id}/")
            elif self.kind == "batch":
                data = self.payloads["bomb"] if i % 2 else self.payloads["many"]
                body, ctype = bs.multipart("zip", f"hostile-{i}.zip", data, "application/zip")
                self._send("POST", "/api/v1/search/batch/", body, ctype)
            else:
                self._send("POST", "/api/v1/task/test/", json.dumps({"steps": 200, "interval": 0.01}).encode(), "application/json")
        self.client.close()
        self.results.put((self.statuses, self.times))

    def collect(self) -> None:
        """In the parent, after ``stop``: what the process counted."""
        self.statuses, self.times = self.results.get(timeout=180)
        self.join(timeout=30)


def search_phase(server, data: dict, seconds: float, rng) -> list[float]:
    client = bs.Client(server.port, data["token"])
    ids, out = data["ids"], []
    try:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            path = f"/api/v1/search/media/{int(ids[rng.integers(ids.size)])}/?limit=10&feature={data['feature_id']}"
            t0 = time.perf_counter()
            status, body = client.get(path)
            out.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise SystemExit(f"search: {status} {body[:300]!r}")
    finally:
        client.close()
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=20_000, help="media rows / vectors in the index (default 20,000)")
    p.add_argument("--rounds", type=int, default=3, help="quiet + loaded phase pairs (default 3)")
    p.add_argument("--phase", type=float, default=10.0, help="seconds per phase (default 10)")
    p.add_argument("--workers", type=int, default=0, help="WEB_CONCURRENCY of scripts/serve.sh (default: two per core)")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL of a throwaway database (name must contain 'bench'); default a fresh SQLite file")
    p.add_argument("--redis-url", default=None, help="Redis for the cache, channel layer and Celery broker")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bs._on_signal)
    sys.path.insert(0, str(bs.REPO))
    import torch

    data_dir = Path(tempfile.mkdtemp(prefix="vframe-bench-hostile-"))
    env = bs.configure_env(argparse.Namespace(database_url=args.database_url), data_dir, torch.get_num_threads())
    env.update({"VFRAME_THROTTLE_SEARCH": UNREACHED_RATE, "VFRAME_THROTTLE_UPLOAD": UNREACHED_RATE})
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    os.environ.update(env)
    pg_created = False
    try:
        if args.database_url:
            bs.pg_create(args.database_url)
            pg_created = True
        import django

        django.setup()
        data = bs.build_dataset(args.items)
        token, collection_id = hostile_user()
        payloads = {"brackets": "[" * 8000, "nested": nested_list(), "bomb": zip_bomb(), "many": zip_many()}
        log(f"payloads: bomb ZIP {len(payloads['bomb']) / 2**20:.1f} MiB, many-member ZIP {len(payloads['many']) / 2**20:.1f} MiB")
        server = bs.serve_server(data_dir, args.workers or max(2, 2 * len(os.sched_getaffinity(0))))
        server.start(env)
        server.wait_ready(data["token"])
        log(f"{server.name} up on 127.0.0.1:{server.port}; load {load_average()}")
        rng = np.random.default_rng(bs.SEED + 11)
        search_phase(server, data, max(5.0, args.phase), rng)  # every worker loads the index and warms its caches

        quiet: list[float] = []
        loaded: list[float] = []
        hostile: dict[str, dict] = {}
        for r in range(args.rounds):
            quiet += search_phase(server, data, args.phase, rng)
            clients = [Hostile(kind, server.port, token, collection_id, payloads) for kind in ("notes", "batch", "tasks")]
            for t in clients:
                t.start()
            time.sleep(0.5)  # the hostile requests are in flight before the searches start
            loaded += search_phase(server, data, args.phase, rng)
            for t in clients:
                t.stop.set()
            for t in clients:
                t.collect()
                agg = hostile.setdefault(t.kind, {"statuses": {}, "times": []})
                for k, v in t.statuses.items():
                    agg["statuses"][k] = agg["statuses"].get(k, 0) + v
                agg["times"] += t.times
            log(f"round {r + 1}: quiet p50 {bs.pct(quiet, 50):.1f} ms, loaded p50 {bs.pct(loaded, 50):.1f} ms (load {load_average()})")
            time.sleep(2.0)  # tasks started in this round finish before the next quiet phase

        fig = {
            "items": int(data["ids"].size),
            "database": "postgresql" if args.database_url else "sqlite",
            "redis": bool(args.redis_url),
            "cpus": os.cpu_count(),
            "load_average_end": load_average(),
            "quiet": {"searches": len(quiet), "p50_ms": round(bs.pct(quiet, 50), 1), "p90_ms": round(bs.pct(quiet, 90), 1)},
            "loaded": {"searches": len(loaded), "p50_ms": round(bs.pct(loaded, 50), 1), "p90_ms": round(bs.pct(loaded, 90), 1)},
            "hostile": {k: {"requests": len(v["times"]), "statuses": v["statuses"], "p50_ms": round(bs.pct(v["times"], 50), 1)} for k, v in hostile.items()},
        }
        fig["p50_ratio"] = round(fig["loaded"]["p50_ms"] / fig["quiet"]["p50_ms"], 2)
        print(
            f"\nsearch/media, one client, {fig['items']:,} items, {fig['database']}{' + redis' if fig['redis'] else ''}; load average at the end {fig['load_average_end']}"
        )
        print(f"  quiet : p50 {fig['quiet']['p50_ms']} ms, p90 {fig['quiet']['p90_ms']} ms ({fig['quiet']['searches']} searches)")
        print(f"  loaded: p50 {fig['loaded']['p50_ms']} ms, p90 {fig['loaded']['p90_ms']} ms ({fig['loaded']['searches']} searches)")
        print(f"  p50 loaded / quiet: {fig['p50_ratio']} (target <= 2)")
        for kind, h in fig["hostile"].items():
            print(f"  hostile {kind}: {h['requests']} requests, statuses {h['statuses']}, p50 {h['p50_ms']} ms")
        if args.json:
            args.json.write_text(json.dumps(fig, indent=1))
        return 0
    finally:
        bs._kill_children()
        if pg_created:
            try:
                from django.db import connections

                connections.close_all()
                bs.pg_drop(args.database_url)
            except Exception as exc:  # report, do not mask the run's own outcome
                log(f"could not drop the bench database: {exc}")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
