#!/usr/bin/env python
"""Load benchmark: a mixed load from separate wrk processes against a real server over a
100k-item index, in the production configuration.

What it does, in a throwaway data dir and database (nothing of yours is touched):

1. The dataset of bench/search.py (imported, not copied): N Media rows, a 512-d
   feature whose synthetic vectors are indexed by the project's own builder, an
   ordinary user and a staff user with tokens. Here also a collection of 200 of
   those media.
2. The server: ``scripts/serve.sh``, the production command (gunicorn with
   ``--workers`` uvicorn workers, default two per core; ``--server serve``, the
   default), or daphne and uvicorn (one process each, as bench/search.py runs them),
   of which a short search-only probe picks the faster (``--server auto``). DEBUG off (the default), PostgreSQL when ``--database-url`` is given,
   Redis (cache, channel layer) when ``--redis-url`` is given. The rate limits stay on
   at a rate no run reaches, so their cache round trips are part of every request.
3. The load: four wrk processes at once, one per route, ``--clients`` connections in
   all (search by media 6/16, list media 4/16, get collection 3/16, upload 3/16), for
   ``--duration`` seconds, all as the ordinary user:

   - ``GET search/media/<random id>/?limit=10``
   - ``GET media/?offset=<random>&limit=30``
   - ``GET collection/<id>/``
   - ``POST upload/``: a multipart JPEG made distinct per request (a JPEG comment
     segment with a counter), so every upload is new bytes: decoded, stored, a row.

4. Figures: each route's p50 with one client alone (before the load: the service time
   that loaded requests queue behind), requests per second held (per route and in all), p50/p99 latency per route
   (wrk's own histogram), errors (socket errors, timeouts, any status outside the
   route's expected ones), the server's memory (PSS summed over its processes) after
   warm-up, at the end and its peak (sampled every second), and the Upload rows written against wrk's count of 201 answers (a
   row more per upload connection is a request still in flight when wrk stopped).

Needs wrk (Debian: ``apt-get install wrk``). Run from the repository root with the
project's venv::

    python bench/load.py                       # 100k items, SQLite, 60 s
    python bench/load.py --items 5000 --duration 10 --probe 3   # quick check
    python bench/load.py --database-url postgres://postgres@127.0.0.1:5432/bench_load \\
        --redis-url redis://127.0.0.1:6379/14

Only loopback traffic; wrk runs for a fixed duration with a per-request timeout; every
process started here is killed on exit.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load_bench_search():
    """bench/search.py as a module: its dataset, servers, clients and cleanup."""
    spec = importlib.util.spec_from_file_location("bench_search", HERE / "search.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_search"] = module
    spec.loader.exec_module(module)
    return module


bs = _load_bench_search()
log = bs.log

# Connections per route, out of 16 (scaled to --clients).
SHARE = {"search": 6, "list": 4, "collection": 3, "upload": 3}
EXPECTED = {"search": {200}, "list": {200}, "collection": {200}, "upload": {201}}
COLLECTION_ITEMS = 200
UNREACHED_RATE = "1000000/min"  # throttles stay in the path of every request, never trip

LUA = r"""
-- One route per wrk process (its first argument); counts statuses per thread.
local route, token, lo, hi, extra, jpeg_path = nil, nil, 0, 0, nil, nil
local counter, id = 0, 0
statuses = {}  -- a global: done() reads each thread's copy with thread:get
local threads = {}
local boundary = "vframeloadboundary7f3a"
local jpeg = nil

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  route, token, lo, hi, extra, jpeg_path = args[1], args[2], tonumber(args[3]), tonumber(args[4]), args[5], args[6]
  id = wrk.thread:get("id")
  math.randomseed(1000 + id)
  if route == "upload" then
    local f = assert(io.open(jpeg_path, "rb"))
    jpeg = f:read("*all")
    f:close()
  end
end

local function headers()
  return { ["Authorization"] = "Token " .. token, ["Accept"] = "application/json" }
end

function request()
  counter = counter + 1
  if route == "search" then
    return wrk.format("GET", "/api/v1/search/media/" .. math.random(lo, hi) .. "/?limit=10&feature=" .. extra, headers())
  elseif route == "list" then
    return wrk.format("GET", "/api/v1/media/?limit=30&offset=" .. math.random(0, hi - lo), headers())
  elseif route == "collection" then
    return wrk.format("GET", "/api/v1/collection/" .. extra .. "/", headers())
  else
    -- A JPEG comment segment right after SOI: a valid JPEG whose bytes are new each time.
    local text = string.format("vframe load %d %d %d", id, counter, math.random(1, 1000000000))
    local len = #text + 2
    local body_jpeg = jpeg:sub(1, 2) .. "\255\254" .. string.char(math.floor(len / 256), len % 256) .. text .. jpeg:sub(3)
    local body = "--" .. boundary .. "\r\n"
      .. "Content-Disposition: form-data; name=\"image\"; filename=\"load.jpg\"\r\n"
      .. "Content-Type: image/jpeg\r\n\r\n" .. body_jpeg .. "\r\n--" .. boundary .. "--\r\n"
    local h = headers()
    h["Content-Type"] = "multipart/form-data; boundary=" .. boundary
    return wrk.format("POST", "/api/v1/upload/", h, body)
  end
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then for k, v in pairs(s) do merged[tostring(k)] = (merged[tostring(k)] or 0) + v end end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%s": %d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
"""


def add_collection(ids, n: int) -> int:
    """A collection of the first ``n`` media, added by the ordinary user."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from collections_app.models import Collection, CollectionMedia

    user = get_user_model().objects.get(username="bench")
    collection = Collection.objects.create(title="load", user=user, username=user.username)
    CollectionMedia.objects.bulk_create([CollectionMedia(collection=collection, media_id=int(m), user=user, username=user.username) for m in ids[:n]])
    pk = collection.pk
    connection.close()
    return pk


def upload_count() -> int:
    from django.db import connection

    from media_app.models import Upload

    n = Upload.objects.count()
    connection.close()
    return n


def pick_server(args, data: dict, servers: list) -> tuple:
    """The faster of the running servers by a search-only throughput probe."""
    if args.server != "auto":
        chosen = servers[0] if args.server == "serve" else next(s for s in servers if s.name == args.server)
        return chosen, {}
    probe_args = argparse.Namespace(clients=8, duration=args.probe, limit=10)
    probe = {}
    for s in servers:
        bs.throughput_phase(argparse.Namespace(**{**vars(probe_args), "duration": 2.0}), data, s, data["token"])  # warm
        probe[s.name] = bs.throughput_phase(probe_args, data, s, data["token"])
        log(f"probe {s.name}: {probe[s.name]['req_per_s']} req/s, p50 {probe[s.name]['p50_ms']} ms, errors {probe[s.name]['errors']}")
    best = max(servers, key=lambda s: probe[s.name]["req_per_s"])
    return best, probe


def warm_up(server, data: dict, collection_id: int, jpeg: bytes) -> None:
    client = bs.Client(server.port, data["token"])
    try:
        ids = data["ids"]
        for i in range(20):
            for path in (
                f"/api/v1/search/media/{int(ids[i * 97 % ids.size])}/?limit=10&feature={data['feature_id']}",
                f"/api/v1/media/?limit=30&offset={i * 1000}",
                f"/api/v1/collection/{collection_id}/",
            ):
                status, body = client.get(path)
                if status != 200:
                    raise SystemExit(f"warm-up {path}: {status} {body[:300]!r}")
        body, ctype = bs.multipart("image", "warm.jpg", jpeg)
        status, resp = client.request("POST", "/api/v1/upload/", body=body, headers={"Content-Type": ctype})
        if status not in (200, 201):
            raise SystemExit(f"warm-up upload: {status} {resp[:300]!r}")
    finally:
        client.close()


def distinct_jpeg(jpeg: bytes, tag: str) -> bytes:
    """The same picture with a JPEG comment segment after SOI: new bytes, same pixels."""
    text = tag.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def solo_latency(server, data: dict, collection_id: int, jpeg: bytes, n: int) -> dict:
    """p50 of each route with one client and nothing else running: the service time the
    loaded latencies queue behind."""
    import numpy as np

    rng = np.random.default_rng(bs.SEED + 5)
    ids = data["ids"]
    client = bs.Client(server.port, data["token"])
    out = {}
    try:
        for route in SHARE:
            times = []
            for i in range(n):
                if route == "upload":
                    body, ctype = bs.multipart("image", "solo.jpg", distinct_jpeg(jpeg, f"solo {i}"))
                    t0 = time.perf_counter()
                    status, _ = client.request("POST", "/api/v1/upload/", body=body, headers={"Content-Type": ctype})
                else:
                    path = {
                        "search": f"/api/v1/search/media/{int(ids[rng.integers(ids.size)])}/?limit=10&feature={data['feature_id']}",
                        "list": f"/api/v1/media/?limit=30&offset={int(rng.integers(ids.size))}",
                        "collection": f"/api/v1/collection/{collection_id}/",
                    }[route]
                    t0 = time.perf_counter()
                    status, _ = client.get(path)
                times.append(time.perf_counter() - t0)
                if status not in EXPECTED[route]:
                    raise SystemExit(f"solo {route}: {status}")
            out[route] = round(bs.pct([t * 1000 for t in times], 50), 1)
    finally:
        client.close()
    return out


def run_wrk(args, server, data: dict, collection_id: int, lua_path: Path, jpeg_path: Path) -> dict:
    """Four wrk processes at once, one per route; the server's RSS sampled meanwhile."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    ids = data["ids"]
    lo, hi = int(ids.min()), int(ids.max())
    conns = {route: max(1, round(args.clients * n / 16)) for route, n in SHARE.items()}
    extra = {"search": str(data["feature_id"]), "list": "-", "collection": str(collection_id), "upload": "-"}
    procs = {}
    for route, c in conns.items():
        argv = [wrk, "-t1", f"-c{c}", f"-d{args.duration:g}s", "--timeout", "10s", "--latency", "-s", str(lua_path), f"http://127.0.0.1:{server.port}"]
        argv += ["--", route, data["token"], str(lo), str(hi), extra[route], str(jpeg_path)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        bs._children.append(proc)
        procs[route] = proc

    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    deadline = t0 + args.duration + 60
    while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
        samples.append((time.monotonic() - t0, bs.tree_pss(server.proc.pid)))
        time.sleep(1.0)
    out: dict = {"connections": conns, "routes": {}}
    for route, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            text, _ = proc.communicate()
        line = next((ln for ln in text.splitlines() if ln.startswith("JSON:")), None)
        if line is None:
            raise SystemExit(f"wrk {route} printed no summary (exit {proc.returncode}):\n{text[-2000:]}")
        fig = json.loads(line[5:])
        statuses = {int(k): v for k, v in fig["statuses"].items()}
        unexpected = sum(v for k, v in statuses.items() if k not in EXPECTED[route])
        socket_errors = sum(fig["errors"][k] for k in ("connect", "read", "write", "timeout"))
        out["routes"][route] = {
            "connections": conns[route],
            "requests": fig["requests"],
            "req_per_s": round(fig["requests"] / (fig["duration_us"] / 1e6), 1),
            "p50_ms": round(fig["p50_us"] / 1000, 1),
            "p99_ms": round(fig["p99_us"] / 1000, 1),
            "max_ms": round(fig["max_us"] / 1000, 1),
            "statuses": statuses,
            "errors": unexpected + socket_errors,
            "socket_errors": fig["errors"],
        }
    out["rss_samples"] = samples
    return out


def report(fig: dict) -> list[str]:
    lines = [
        "",
        f"VFRAME Search load: {fig['items']:,} items, server {fig['server']} ({fig['server_cmd']}), db {fig['database']}, "
        f"redis {'yes' if fig['redis'] else 'no'}, {fig['cpus']} CPUs, {fig['clients']} connections from 4 wrk processes, {fig['duration']:g} s",
        "",
        f"{'route':<34}{'alone p50':>10}{'conns':>6}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}  statuses",
        "-" * 120,
    ]
    names = {
        "search": "GET search/media/<id>/?limit=10",
        "list": "GET media/?offset=&limit=30",
        "collection": "GET collection/<id>/",
        "upload": "POST upload/ (new JPEG each)",
    }
    total_req = total_err = 0
    total_rps = 0.0
    for route, r in fig["load"]["routes"].items():
        total_req += r["requests"]
        total_err += r["errors"]
        total_rps += r["req_per_s"]
        lines.append(
            f"{names[route]:<34}{fig['solo_p50_ms'][route]:>10.1f}{r['connections']:>6}{r['requests']:>10}{r['req_per_s']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{r['errors']:>8}  {r['statuses']}"
        )
    lines.append(f"{'all routes':<34}{'':>10}{fig['clients']:>6}{total_req:>10}{total_rps:>9.1f}{'':>27}{total_err:>8}")
    mem = fig["memory"]
    lines += [
        "",
        f"server memory (PSS of all its processes): {mem['start'] / 2**20:.0f} MiB after warm-up, {mem['end'] / 2**20:.0f} MiB at the end, peak {mem['peak'] / 2**20:.0f} MiB; "
        f"growth over the last half of the run {mem['late_growth'] / 2**20:+.1f} MiB",
        f"uploads: {fig['uploads_written']} Upload rows written, wrk counted {fig['uploads_201']} answers 201 "
        f"(at most {fig['load']['connections']['upload']} more rows: requests still in flight when wrk stopped)",
    ]
    if fig.get("probe"):
        lines.append("probe (search only, 8 clients): " + ", ".join(f"{k} {v['req_per_s']} req/s" for k, v in fig["probe"].items()))
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=100_000, help="media rows / vectors in the index (default 100,000)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of mixed load (default 60)")
    p.add_argument("--clients", type=int, default=16, help="connections in all, split 6:4:3:3 over the routes (default 16)")
    p.add_argument(
        "--server",
        choices=["serve", "auto", "daphne", "uvicorn"],
        default="serve",
        help="serve: scripts/serve.sh, the production command (default); auto: the faster of one daphne and one uvicorn process by a search-only probe",
    )
    p.add_argument("--workers", type=int, default=0, help="WEB_CONCURRENCY of scripts/serve.sh (default: two per core)")
    p.add_argument("--probe", type=float, default=10.0, help="seconds of the search-only probe per server (default 10)")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL of a throwaway database (name must contain 'bench'); default a fresh SQLite file")
    p.add_argument("--redis-url", default=None, help="Redis for the cache and channel layer, as in production (e.g. redis://127.0.0.1:6379/14)")
    p.add_argument("--solo", type=int, default=40, help="requests per route with one client alone, before the load (default 40)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the data dir (and database) for inspection")
    args = p.parse_args(argv)
    if args.clients < 4:
        p.error("--clients must be at least 4 (one per route)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bs._on_signal)
    sys.path.insert(0, str(bs.REPO))
    import torch

    threads = torch.get_num_threads()
    data_dir = Path(tempfile.mkdtemp(prefix="vframe-bench-load-"))
    env = bs.configure_env(argparse.Namespace(database_url=args.database_url), data_dir, threads)
    # The production defaults but for the rate limits, which one user's load would trip.
    env.update({"VFRAME_THROTTLE_SEARCH": UNREACHED_RATE, "VFRAME_THROTTLE_UPLOAD": UNREACHED_RATE})
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    os.environ.update(env)
    pg_created = False
    log(f"data dir {data_dir}; database {args.database_url or 'SQLite (fresh file)'}; redis {args.redis_url or 'none'}")
    try:
        if args.database_url:
            bs.pg_create(args.database_url)
            pg_created = True
        import django

        django.setup()
        data = bs.build_dataset(args.items)
        collection_id = add_collection(data["ids"], COLLECTION_ITEMS)
        jpeg = bs.make_jpegs(1, (640, 480), seed=bs.SEED + 77)[0]
        jpeg_path = data_dir / "load.jpg"
        jpeg_path.write_bytes(jpeg)
        lua_path = data_dir / "load.lua"
        lua_path.write_text(LUA)

        if args.server == "serve":
            servers = [bs.serve_server(data_dir, args.workers or max(2, 2 * len(os.sched_getaffinity(0))))]
        else:
            servers = bs.make_servers(data_dir)
        for s in servers:
            s.start(env)
        for s in servers:
            s.wait_ready(data["token"])
            log(f"{s.name} up on 127.0.0.1:{s.port} (pid {s.proc.pid})")
        server, probe = pick_server(args, data, servers)
        for s in servers:
            if s is not server:
                bs._stop(s.proc)
        log(f"load against {server.name}")
        warm_up(server, data, collection_id, jpeg)
        solo = solo_latency(server, data, collection_id, jpeg, args.solo)
        log(f"one client alone, p50 ms: {solo}")
        time.sleep(1.0)
        uploads_before = upload_count()
        rss_start = bs.tree_pss(server.proc.pid)
        log(f"{args.clients} connections for {args.duration:g} s (RSS {rss_start / 2**20:.0f} MiB)")
        load = run_wrk(args, server, data, collection_id, lua_path, jpeg_path)
        time.sleep(2.0)
        rss_end = bs.tree_pss(server.proc.pid)
        samples = load.pop("rss_samples")
        half = [r for t, r in samples if t >= args.duration / 2]
        fig = {
            "items": int(data["ids"].size),
            "server": server.name,
            "server_cmd": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(server.argv)),
            "database": "postgresql" if args.database_url else "sqlite",
            "redis": bool(args.redis_url),
            "cpus": os.cpu_count(),
            "clients": sum(load["connections"].values()),
            "duration": args.duration,
            "probe": probe,
            "solo_p50_ms": solo,
            "load": load,
            "memory": {
                "start": rss_start,
                "end": rss_end,
                "peak": max([rss_end, *(r for _, r in samples)]),
                "late_growth": (half[-1] - half[0]) if len(half) > 1 else 0,
                "samples_mib": [round(r / 2**20, 1) for _, r in samples],
            },
            "uploads_written": upload_count() - uploads_before,
            "uploads_201": load["routes"]["upload"]["statuses"].get(201, 0),
        }
        print("\n".join(report(fig)), flush=True)
        if args.json:
            args.json.write_text(json.dumps(fig, indent=1, default=str))
            log(f"figures written to {args.json}")
        errors = sum(r["errors"] for r in load["routes"].values())
        in_flight = fig["uploads_written"] - fig["uploads_201"]
        return 1 if errors or not 0 <= in_flight <= load["connections"]["upload"] else 0
    finally:
        bs._kill_children()
        if args.keep:
            log(f"kept {data_dir}" + (f" and database {args.database_url}" if pg_created else ""))
        else:
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
