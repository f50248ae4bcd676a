#!/usr/bin/env python
"""Serving benchmark: the production command against its floors, side by side in one run.

In a throwaway data dir and database (nothing of yours is touched), with bench/search.py's
dataset (N media, a 512-d HNSW index over synthetic clustered vectors, resnet18-random):

1. Servers, all running during the whole measurement, the same worker count each:
   ``scripts/serve.sh`` (gunicorn + uvicorn workers, the app) and the HTTP floor
   (bench/floor_app.py: a bare ASGI app answering a fixed 10-hit JSON, served by the
   same gunicorn + uvicorn worker stack).
2. Memory: RSS, PSS and USS of the master and of each worker after warm-up, with the
   default index loaded before fork (``VFRAME_PRELOAD``, the default) and, for
   comparison, without; scaled to 1M items.
3. Latency, one request in flight, interleaved in blocks so machine noise hits all
   alike: raw ``hnswlib.knn_query`` in this process, the floor, and
   ``GET search/media/<id>/?limit=10``.
4. Throughput with wrk (Debian: ``apt-get install wrk``), 16 and 64 connections, for
   the floor and the search route; errors are any status but 200 and socket errors.
5. Upload + search: POST upload/ of a new JPEG then GET search/upload/<id>/, against
   decode + forward + knn of the same JPEG in this process (bench/search.py's phase).
6. bench/load.py's mixed traffic (search, list, collection, upload; 16 connections)
   against a fresh serve.sh with the rate limits in the path at a rate no run reaches.

Every figure is printed with its floor and the ratio, with the date and the load
average (the machine may be shared: read the ratios). Targets: search p50 <= floor p50
+ raw p50 + 3 ms, p99 <= 2.5 x p50; >= 400 req/s at 16 connections and no errors at 64;
mixed load >= 115 req/s (5 x 23), no errors, flat memory; upload + search <= 1.3 x
in-process.

    python bench/serve.py                         # 20,000 items, SQLite
    python bench/serve.py --items 5000 --duration 5 --load-duration 10 --queries 300   # quick
    python bench/serve.py --database-url postgres://postgres@127.0.0.1:5432/bench_serve \\
        --redis-url redis://127.0.0.1:6379/14      # as deployed

Only loopback traffic; every loop and wrk run is bounded in count and time; every
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

import numpy as np

HERE = Path(__file__).resolve().parent
# As the servers run torch (vframe_search/gunicorn_conf.py): idle OpenMP threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _load(name: str, file: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bs = _load("bench_search", "search.py")
bl = _load("bench_load", "load.py")
log = bs.log

TARGETS = {"p50_over_floor_raw_ms": 3.0, "p99_over_p50": 2.5, "rps_16": 400.0, "load_rps": 5 * 23.0, "upload_ratio": 1.3}

WRK_LUA = r"""
-- GET the floor or search/media/<random id>/; counts statuses per thread.
local mode, token, lo, hi, feature = nil, nil, 0, 0, nil
statuses = {}
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode, token, lo, hi, feature = args[1], args[2], tonumber(args[3]), tonumber(args[4]), args[5]
  math.randomseed(4242 + wrk.thread:get("id"))
end

function request()
  local h = { ["Authorization"] = "Token " .. token, ["Accept"] = "application/json" }
  if mode == "floor" then
    return wrk.format("GET", "/", h)
  end
  return wrk.format("GET", "/api/v1/search/media/" .. math.random(lo, hi) .. "/?limit=10&feature=" .. feature, h)
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
    'JSON:{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
"""


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def floor_server(data_dir: Path, workers: int) -> bs.Server:
    """bench/floor_app.py under gunicorn with the project's uvicorn worker class."""
    port = bs.free_port()
    argv = [str(bs.BIN / "gunicorn"), "-k", "vframe_search.serving.Worker", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    argv += ["--pythonpath", str(HERE), "--no-control-socket", "--log-level", "warning", "floor_app:app"]
    return bs.Server(f"floor -w {workers}", argv, port, data_dir / "floor.log")


def wait_floor(server: bs.Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited: {server.log_path.read_text()[-2000:]}")
        try:
            if bs.Client(server.port, "-", timeout=2).get("/")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name} did not answer")


def warm_workers(server: bs.Server, data: dict, n: int = 200) -> None:
    """Searches on fresh connections so every worker has loaded what a search needs."""
    ids, fid = data["ids"], data["feature_id"]
    for i in range(n):
        client = bs.Client(server.port, data["token"], timeout=60)
        try:
            status, body = client.get(f"/api/v1/search/media/{int(ids[(i * 7919) % ids.size])}/?limit=10&feature={fid}")
        finally:
            client.close()
        if status != 200:
            raise SystemExit(f"{server.name}: warm-up search answered {status}: {body[:300]!r}")


def process_memory(server: bs.Server) -> dict:
    pids = bs.tree_pids(server.proc.pid)
    # pids[0] is bash's exec'd gunicorn master; the rest its workers.
    return {"master": bs.memory_kinds(pids[0]), "workers": [bs.memory_kinds(p) for p in pids[1:]]}


def memory_phase(args, data: dict, server: bs.Server, env: dict, data_dir: Path) -> dict:
    """Per-process memory of the served app as it runs (``as_run``: the model loaded in
    every worker), and of two servers that load no model (``VFRAME_WARM_AT_START=0``,
    searches by media need none): one with the index loaded before fork, one without
    (each worker then loads its own copy)."""
    client = bs.Client(server.port, data["token"])
    info = client.get_json("/api/v1/search/info/")
    client.close()
    loaded = [x for x in info["loaded"] if x["feature_id"] == data["feature_id"]]
    out = {"as_run": process_memory(server), "index_bytes": loaded[0]["memory_bytes"] if loaded else None, "items": int(data["ids"].size)}
    for kind, preload in (("preload", "1"), ("no_preload", "0")):
        other = bs.serve_server(data_dir, args.workers, name=f"serve.sh {kind}")
        other.extra_env.update(VFRAME_PRELOAD=preload, VFRAME_WARM_AT_START="0")
        other.start(env)
        try:
            other.wait_ready(data["token"])
            warm_workers(other, data, n=max(40, 20 * args.workers))
            out[kind] = process_memory(other)
        finally:
            bs._stop(other.proc)
    return out


def latency_phase(args, data: dict, raw, floor: bs.Server, server: bs.Server) -> dict:
    ids, vectors, fid = data["ids"], data["vectors"], data["feature_id"]
    rng = np.random.default_rng(bs.SEED + 31)
    rows = rng.choice(ids.size, size=min(args.queries, ids.size), replace=False)
    clients = {"floor": bs.Client(floor.port, data["token"]), "search": bs.Client(server.port, data["token"])}
    times: dict[str, list[float]] = {"raw": [], "floor": [], "search": []}
    errors = 0
    for r in rows[: args.warmup]:
        clients["floor"].get("/")
        clients["search"].get(f"/api/v1/search/media/{int(ids[r])}/?limit={args.limit}&feature={fid}")
    deadline = time.monotonic() + args.phase_timeout
    targets = list(times)
    for b, start in enumerate(range(0, rows.size, 50)):
        if time.monotonic() > deadline:
            log("latency phase hit its time limit")
            break
        part = rows[start : start + 50]
        shift = b % len(targets)
        for target in targets[shift:] + targets[:shift]:
            for r in part:
                t0 = time.perf_counter()
                if target == "raw":
                    raw.knn(vectors[r], args.limit + 1)
                    status = 200
                elif target == "floor":
                    status, _ = clients["floor"].get("/")
                else:
                    status, _ = clients["search"].get(f"/api/v1/search/media/{int(ids[r])}/?limit={args.limit}&feature={fid}")
                times[target].append(time.perf_counter() - t0)
                errors += status != 200
    for c in clients.values():
        c.close()
    return {**{k: bs.summary_ms(v) for k, v in times.items()}, "errors": errors}


def wrk_run(mode: str, server: bs.Server, data: dict, connections: int, duration: float, lua: Path) -> dict:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    ids = data["ids"]
    argv = [wrk, f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(lua), f"http://127.0.0.1:{server.port}"]
    argv += ["--", mode, data["token"], str(int(ids.min())), str(int(ids.max())), str(data["feature_id"])]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    fig = json.loads(line[5:])
    statuses = {int(k): v for k, v in fig["statuses"].items()}
    socket_errors = sum(fig["errors"][k] for k in ("connect", "read", "write", "timeout"))
    return {
        "connections": connections,
        "requests": fig["requests"],
        "req_per_s": round(fig["requests"] / (fig["duration_us"] / 1e6), 1),
        "p50_ms": round(fig["p50_us"] / 1000, 2),
        "p99_ms": round(fig["p99_us"] / 1000, 2),
        "errors": sum(v for k, v in statuses.items() if k != 200) + socket_errors,
        "statuses": statuses,
    }


def throughput_phase(args, data: dict, floor: bs.Server, server: bs.Server, lua: Path) -> dict:
    out = {}
    for conns in (16, 64):
        for name, srv in (("floor", floor), ("search", server)):
            log(f"wrk: {name}, {conns} connections, {args.duration:g} s")
            out[f"{name}_{conns}"] = wrk_run(name, srv, data, conns, args.duration, lua)
    return out


def load_phase(args, data: dict, env: dict, data_dir: Path) -> dict:
    """bench/load.py's mixed traffic against a fresh serve.sh, rate limits in the path."""
    from media_app.models import Upload

    collection_id = bl.add_collection(data["ids"], bl.COLLECTION_ITEMS)
    jpeg = bs.make_jpegs(1, (640, 480), seed=bs.SEED + 77)[0]
    jpeg_path = data_dir / "load.jpg"
    jpeg_path.write_bytes(jpeg)
    lua_path = data_dir / "load.lua"
    lua_path.write_text(bl.LUA)
    server = bs.serve_server(data_dir, args.workers, name="serve.sh (load)")
    server.start({**env, "VFRAME_THROTTLE_SEARCH": bl.UNREACHED_RATE, "VFRAME_THROTTLE_UPLOAD": bl.UNREACHED_RATE})
    try:
        server.wait_ready(data["token"])
        bl.warm_up(server, data, collection_id, jpeg)
        warm_workers(server, data, n=20 * args.workers)
        solo = bl.solo_latency(server, data, collection_id, jpeg, 20)
        time.sleep(1.0)
        before = Upload.objects.count()
        start = bs.tree_pss(server.proc.pid)
        load = bl.run_wrk(argparse.Namespace(clients=16, duration=args.load_duration), server, data, collection_id, lua_path, jpeg_path)
        time.sleep(2.0)
        samples = load.pop("rss_samples")
        half = [m for t, m in samples if t >= args.load_duration / 2]
        return {
            "solo_p50_ms": solo,
            "routes": load["routes"],
            "req_per_s": round(sum(r["req_per_s"] for r in load["routes"].values()), 1),
            "errors": sum(r["errors"] for r in load["routes"].values()),
            "memory_start": start,
            "memory_end": bs.tree_pss(server.proc.pid),
            "memory_late_growth": (half[-1] - half[0]) if len(half) > 1 else 0,
            "uploads_written": Upload.objects.count() - before,
            "uploads_201": load["routes"]["upload"]["statuses"].get(201, 0),
        }
    finally:
        bs._stop(server.proc)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(fig: dict) -> list[str]:
    mib = 2**20
    lat, tp = fig["latency"], fig["throughput"]
    raw, floor, search = lat["raw"], lat["floor"], lat["search"]
    lines = [
        "",
        f"VFRAME Search serving benchmark, {fig['date']}; load average before / after: {fig['load_before']} / {fig['load_after']}",
        f"{fig['items']:,} items x {bs.DIM}-d (M/efC/ef {fig['params']}), db {fig['database']}, redis {fig['redis']}, "
        f"{fig['cpus']} CPUs, {fig['workers']} uvicorn workers under gunicorn (app and floor alike)",
        (
            f"stored pictures' keypoints kept ahead (manage.py keypoints): {fig['keypoints_ahead']['pictures']:,} pictures, "
            f"{fig['keypoints_ahead']['ms_each']} ms each"
            if fig.get("keypoints_ahead")
            else "stored pictures' keypoints not kept ahead (--cold-keypoints): the first search that checks a picture finds them"
        ),
        "",
        f"{'figure':<58}{'value':>14}{'floor':>14}{'ratio':>8}  target",
        "-" * 112,
    ]

    def row(label, value, floor_value="", ratio="", target=""):
        lines.append(f"{label:<58}{value:>14}{floor_value:>14}{ratio:>8}  {target}")

    budget = floor["p50_ms"] + raw["p50_ms"] + TARGETS["p50_over_floor_raw_ms"]
    row("raw hnswlib knn p50 / p99 ms", f"{raw['p50_ms']:.3f}/{raw['p99_ms']:.3f}")
    row("HTTP floor p50 / p99 ms (one client)", f"{floor['p50_ms']:.3f}/{floor['p99_ms']:.3f}")
    row(
        "search/media p50 ms (one client)",
        f"{search['p50_ms']:.2f}",
        f"{floor['p50_ms'] + raw['p50_ms']:.2f}",
        f"{search['p50_ms'] / (floor['p50_ms'] + raw['p50_ms']):.1f}",
        f"<= floor + raw + 3 = {budget:.2f}: {verdict(search['p50_ms'] <= budget)}",
    )
    p99r = search["p99_ms"] / search["p50_ms"]
    row("search/media p99 ms", f"{search['p99_ms']:.2f}", "", f"{p99r:.2f}", f"p99/p50 <= 2.5: {verdict(p99r <= TARGETS['p99_over_p50'])}")
    for conns in (16, 64):
        s, f = tp[f"search_{conns}"], tp[f"floor_{conns}"]
        target = (
            f">= 400 req/s, 0 errors: {verdict(s['req_per_s'] >= TARGETS['rps_16'] and s['errors'] == 0)}"
            if conns == 16
            else f"0 errors: {verdict(s['errors'] == 0)}"
        )
        row(
            f"search/media req/s, {conns} connections (errors {s['errors']})",
            f"{s['req_per_s']:.0f}",
            f"{f['req_per_s']:.0f}",
            f"{s['req_per_s'] / f['req_per_s']:.3f}",
            target,
        )
        row(f"  p50 / p99 ms under load ({conns} connections)", f"{s['p50_ms']:.0f}/{s['p99_ms']:.0f}", f"{f['p50_ms']:.1f}/{f['p99_ms']:.1f}")
    up = fig.get("upload")
    if up:
        name = next(iter(up["servers"]))
        u = up["servers"][name]
        row(
            f"upload + search p50 ms ({up['image']}; errors {u['errors']})",
            f"{u['p50_ms']:.1f}",
            f"{up['inprocess']['p50_ms']:.1f}",
            f"{u['ratio_p50']:.2f}",
            f"<= 1.3 x in-process decode+forward+knn: {verdict(u['ratio_p50'] <= TARGETS['upload_ratio'])}",
        )
        row("  POST upload/ (decodes, embeds) / GET search/upload/ p50 ms", f"{u['post_p50_ms']:.1f}/{u['search_p50_ms']:.1f}")
    ld = fig.get("load")
    if ld:
        flat = abs(ld["memory_late_growth"]) < 0.05 * ld["memory_start"]
        row(
            f"bench/load.py mixed traffic req/s, 16 connections (errors {ld['errors']})",
            f"{ld['req_per_s']:.0f}",
            "23 (before)",
            f"{ld['req_per_s'] / 23:.1f}",
            f">= 115, 0 errors, flat memory: {verdict(ld['req_per_s'] >= TARGETS['load_rps'] and ld['errors'] == 0 and flat)}",
        )
        for route, r in ld["routes"].items():
            row(
                f"  {route}: req/s, p50/p99 ms (alone p50 {ld['solo_p50_ms'][route]} ms)",
                f"{r['req_per_s']:.0f}",
                "",
                "",
                f"{r['p50_ms']:.0f}/{r['p99_ms']:.0f} ms",
            )
        row(
            "  server memory (PSS of all processes) start / end / late growth MiB",
            f"{ld['memory_start'] / mib:.0f}/{ld['memory_end'] / mib:.0f}/{ld['memory_late_growth'] / mib:+.0f}",
        )
    mem = fig["memory"]
    scale = 1_000_000 / mem["items"]
    index = mem["index_bytes"] or 0
    labels = {"as_run": "as run (model loaded)", "preload": "no model, index before fork", "no_preload": "no model, no preload"}
    for kind in ("as_run", "preload", "no_preload"):
        m = mem[kind]
        uss = [w["uss"] for w in m["workers"]]
        pss = [w["pss"] for w in m["workers"]]
        row(f"memory, {labels[kind]}: master RSS / worker USS / PSS MiB", f"{m['master']['rss'] / mib:.0f}/{np.mean(uss) / mib:.0f}/{np.mean(pss) / mib:.0f}")
    run_uss = np.mean([w["uss"] for w in mem["as_run"]["workers"]])
    pre_uss = np.mean([w["uss"] for w in mem["preload"]["workers"]])
    no_uss = np.mean([w["uss"] for w in mem["no_preload"]["workers"]])
    row(f"index in memory ({mem['items']:,} items) / per 1M items MiB", f"{index / mib:.0f}/{index * scale / mib:.0f}")
    row("  a worker's private copy of the index: USS no preload - preload MiB", f"{(no_uss - pre_uss) / mib:.0f}", "", "", f"(index {index / mib:.0f})")
    row("  the model in each worker: USS as run - no model MiB", f"{(run_uss - pre_uss) / mib:.0f}")
    row(
        "at 1M items, per worker: private + its share of the index MiB",
        f"{run_uss / mib:.0f}+{index * scale / fig['workers'] / mib:.0f}",
        "",
        "",
        f"(no preload: {(run_uss + index * scale) / mib:.0f} each)",
    )
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=20_000, help="media rows / vectors (default 20,000)")
    p.add_argument("--queries", type=int, default=1000, help="one-client queries per target (default 1000)")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--workers", type=int, default=0, help="uvicorn workers of the app and of the floor (default: two per core)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run (default 10)")
    p.add_argument("--uploads", type=int, default=20, help="measured uploads (default 20)")
    p.add_argument("--upload-width", type=int, default=1024)
    p.add_argument("--upload-height", type=int, default=768)
    p.add_argument("--load-duration", type=float, default=30.0, help="seconds of bench/load.py's mixed traffic (default 30; 0 skips)")
    p.add_argument("--skip-upload", action="store_true")
    p.add_argument("--cold-keypoints", action="store_true", help="do not keep the stored pictures' keypoints ahead (manage.py keypoints): searches find them")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL of a throwaway database (name must contain 'bench')")
    p.add_argument("--redis-url", default=None, help="Redis for cache, channel layer and broker, as deployed")
    p.add_argument("--phase-timeout", type=float, default=600.0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    args.workers = args.workers or max(2, 2 * len(os.sched_getaffinity(0)))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bs._on_signal)
    sys.path.insert(0, str(bs.REPO))
    import torch

    threads = torch.get_num_threads()
    data_dir = Path(tempfile.mkdtemp(prefix="vframe-bench-serve-"))
    env = bs.configure_env(argparse.Namespace(database_url=args.database_url), data_dir, threads)
    if args.redis_url:
        env["REDIS_URL"] = os.environ["REDIS_URL"] = args.redis_url
    pg_created = False
    load_before = load_average()
    log(f"data dir {data_dir}; database {args.database_url or 'SQLite'}; redis {args.redis_url or 'none'}; {args.workers} workers; load {load_before}")
    try:
        if args.database_url:
            bs.pg_create(args.database_url)
            pg_created = True
        import django

        django.setup()
        data = bs.build_dataset(args.items)
        keypoints = None
        if not args.cold_keypoints:
            # As an operator runs manage.py keypoints after an import: no measured
            # search decodes a stored picture for its keypoints.
            from search_app.query.keypoint_store import fill

            started = time.perf_counter()
            made, _ = fill()
            keypoints = {"pictures": made, "ms_each": round((time.perf_counter() - started) * 1000 / max(made, 1), 2)}
            log(f"keypoints kept ahead for {made} pictures, {keypoints['ms_each']} ms each")
        raw = bs.Raw(data["index_path"], int(data["params"]["ef"]))
        lua = data_dir / "serve.lua"
        lua.write_text(WRK_LUA)

        floor = floor_server(data_dir, args.workers)
        server = bs.serve_server(data_dir, args.workers)
        floor.start(env)
        server.start(env)
        wait_floor(floor)
        server.wait_ready(data["token"])
        warm_workers(server, data)
        log(f"{server.name} up on {server.port}, floor on {floor.port}")

        fig: dict = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_before": load_before,
            "items": int(data["ids"].size),
            "params": data["params"],
            "database": "postgresql" if args.database_url else "sqlite",
            "redis": "yes" if args.redis_url else "no",
            "cpus": len(os.sched_getaffinity(0)),
            "workers": args.workers,
            "keypoints_ahead": keypoints,
        }
        log("memory")
        fig["memory"] = memory_phase(args, data, server, env, data_dir)
        log(f"latency: {args.queries} queries x (raw, floor, search), interleaved")
        fig["latency"] = latency_phase(args, data, raw, floor, server)
        fig["throughput"] = throughput_phase(args, data, floor, server, lua)
        bs._stop(floor.proc)
        if not args.skip_upload:
            log(f"upload + search: {args.uploads} new JPEGs")
            clients = {server.name: bs.Client(server.port, data["token"])}
            fig["upload"] = bs.upload_phase(args, data, raw, [server], clients)
            clients[server.name].close()
        bs._stop(server.proc)
        if args.load_duration > 0:
            log(f"mixed load (bench/load.py), 16 connections, {args.load_duration:g} s")
            fig["load"] = load_phase(args, data, env, data_dir)
        fig["load_after"] = load_average()
        print("\n".join(report(fig)), flush=True)
        print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        if args.json:
            args.json.write_text(json.dumps(fig, indent=1, default=str))
            log(f"figures written to {args.json}")
        return 0
    finally:
        bs._kill_children()
        if args.keep:
            log(f"kept {data_dir}")
        else:
            if pg_created:
                try:
                    from django.db import connections

                    connections.close_all()
                    bs.pg_drop(args.database_url)
                except Exception as exc:
                    log(f"could not drop the bench database: {exc}")
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
