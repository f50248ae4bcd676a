"""A Celery worker killed (SIGKILL) in the middle of an index build: the
previous index version keeps serving searches, running the build again completes it,
and no vector is stored twice.

Real processes: daphne and Celery workers (tests/harness.py) over the live
database and Redis; media imported with ``manage.py ingest``. The workers store a
vector shard every 8 vectors (tests/hardening/live_settings.py) and embed 2 images a
batch with resnet18's architecture, so the build runs for seconds and has stored part
of its work when it is killed.
"""

from __future__ import annotations

import numpy as np
import pytest

from search_app.indexing.vectors import VectorStore
from tests.harness import manage, wait_for
from tests.images import make_image_bytes

pytestmark = pytest.mark.slow

MODEL, DIM = "resnet18-random", 512
FIRST, SECOND = 8, 40


def _folder(root, name: str, seeds: range):
    folder = root / name
    folder.mkdir()
    for seed in seeds:
        (folder / f"{seed}.jpg").write_bytes(make_image_bytes(64, 48, seed=seed))
    return folder


def _embeddable_ids(api) -> list[int]:
    ids: list[int] = []
    for media_type in ("image", "video_frame"):
        status, body = api.get(f"/api/v1/media/?limit=500&media_type={media_type}")
        assert status == 200 and body["res"]["count"] <= 500, body
        ids += [m["id"] for m in body["res"]["results"]]
    return sorted(ids)


def _feature(api, feature_id: int) -> dict:
    status, body = api.get(f"/api/v1/feature/{feature_id}/")
    assert status == 200, body
    return body["res"]


def _task(api, task_id: str) -> dict:
    status, body = api.get(f"/api/v1/task/{task_id}/")
    assert status == 200, body
    return body["res"]


def _search(api, media_id: int) -> dict:
    status, body = api.get(f"/api/v1/search/media/{media_id}/?limit=200&include_self=true")
    assert status == 200, body
    return body["res"]


def test_worker_killed_mid_build_previous_index_serves_and_a_rerun_completes_without_duplicates(live):
    env = live.env_with(
        DJANGO_SETTINGS_MODULE="tests.hardening.live_settings",
        VFRAME_EMBED_BATCH_SIZE="2",
        VFRAME_LOADER_WORKERS="0",
        VFRAME_EMBED_THREADS="1",
    )
    manage(env, "ingest", "--no-index", "--no-progress", str(_folder(live.tmp, "first", range(1000, 1000 + FIRST))))
    _, base = live.server()
    live.worker("k1", env, base)
    api, boss = live.api(base), live.api(base, "boss")

    # Version 1 over the media there are now.
    status, body = boss.post("/api/v1/feature/", {"modelzoo_name": MODEL, "index_type": "hnsw"})
    assert status == 201, body
    feature_id = body["res"]["id"]
    wait_for(lambda: _feature(api, feature_id)["status"] == "ready", timeout=120, what="version 1 of the index")
    v1_ids = _embeddable_ids(api)
    probe = v1_ids[0]
    assert _search(api, probe)["feature"]["index_version"] == 1

    # Many more media, and a build of them that is killed with shards already stored.
    manage(env, "ingest", "--no-index", "--no-progress", str(_folder(live.tmp, "second", range(2000, 2000 + SECOND))))
    all_ids = _embeddable_ids(api)
    store = VectorStore(live.data_dir / "indexes" / f"feature-{feature_id}" / "vectors", DIM)
    shards_v1 = len(store.shard_paths())
    status, body = boss.post("/api/v1/task/run/", {"task_name": "build_index", "params": {"feature_id": feature_id}})
    assert status == 202, body
    killed_task = body["res"]["id"]
    wait_for(lambda: len(store.shard_paths()) >= shards_v1 + 2, timeout=120, what="the build to store two shards")
    assert _task(boss, killed_task)["state"] == "STARTED", "the build finished before it could be killed: make it slower"
    live.procs.pop().kill()  # k1 and its pool child: SIGKILL, no goodbye
    stored_before_rerun = store.ids().size
    assert stored_before_rerun < len(all_ids)

    # The previous version keeps answering, with what it held.
    feature = _feature(api, feature_id)
    assert feature["index_version"] == 1 and feature["item_count"] == len(v1_ids)
    answer = _search(api, probe)
    assert answer["feature"]["index_version"] == 1 and answer["index_count"] == len(v1_ids)
    assert sorted(r["media"]["id"] for r in answer["results"]) == v1_ids

    # Running the build again (another worker: k1 is gone) completes it.
    live.worker("k2", env, base)
    status, body = boss.post("/api/v1/task/run/", {"task_name": "build_index", "params": {"feature_id": feature_id}})
    assert status == 202, body
    rerun = body["res"]["id"]
    # (The state can read SUCCESS a moment before the result is on the row.)
    done = wait_for(lambda: (t := _task(boss, rerun))["state"] in ("SUCCESS", "FAILURE") and (t["result"] or t["error"]) and t, timeout=180, what="the rerun")
    assert done["state"] == "SUCCESS", done
    assert done["result"]["claimed"] is True, done["result"]
    # Only what the killed build had not stored was embedded again.
    assert done["result"]["embedded"] == len(all_ids) - stored_before_rerun
    feature = _feature(api, feature_id)
    assert (feature["status"], feature["index_version"], feature["item_count"]) == ("ready", 2, len(all_ids))

    # One vector per media: no id in two shards, the index holds exactly the media.
    raw = np.concatenate([np.load(p)["ids"] for p in store.shard_paths()])
    assert raw.size == np.unique(raw).size == len(all_ids)
    assert store.load()[0].tolist() == all_ids
    # The server swaps the new version in behind the scenes (the old one answers meanwhile).
    answer = wait_for(lambda: (a := _search(api, probe))["feature"]["index_version"] == 2 and a, timeout=30, what="version 2 to be swapped in")
    assert answer["index_count"] == len(all_ids)
    assert sorted(r["media"]["id"] for r in answer["results"]) == all_ids
