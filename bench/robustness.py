#!/usr/bin/env python
"""Copy detection and look-alikes on real photographs: each model, and the default
pipeline as a user meets it.

    python bench/robustness.py                        # full run: 10,000 gallery items
    python bench/robustness.py --distractors 1000 --per-edit 40   # a few minutes
    python bench/robustness.py --skip-models          # the default pipeline only

Pictures (bench/photos.py): 144 real pictures from Debian's wallpaper packages,
OpenCV's samples, scikit-image and scikit-learn (86 photographs, the rest artwork),
labelled by category. 20 photographs are held out (chosen by a hash of their names):
never in the gallery, they are the unrelated queries and the hosts of the
picture-in-picture edit. The other 124 are the gallery's real pictures; the two that
are one flat colour (no content to find a copy by) are in the gallery but not queried.

Distractors bring the gallery to ``--gallery`` items: every frame of OpenCV's sample
videos (a street, a tree, an animation: real pixels, unrelated to every query) and
generated photo-like scenes (gradients, shapes, band-limited texture and grain, as
bench/ingest.py makes them, and vframe_search.demo's drawn scenes), at most 640 px.
They are cached under bench/out/.

Queries: every edit of bench/edits.py applied to each queried gallery picture. A query
scores top-1 when its source ranks first and recall@10 when it is among the first ten.

* Models: each model's whole-picture vectors, exact cosine over the whole gallery
  (index recall does not enter); ms per image to embed; index bytes per image (float32
  vector and hnswlib's links at M=16).
* The default pipeline: the project itself in a throwaway data dir (SQLite): the gallery
  imported by ``manage.py ingest`` into an hnsw feature of the default model, then every
  query uploaded and searched with ``search_run`` as ``search/upload/`` does, no extra
  parameters. Also: the share of unrelated pairs labelled ``copy`` (every result of a
  held-out query, and every result other than the source of a gallery query, in the
  first ten), ms per query, ms per image at ingest with and without region vectors
  (``--ingest-sample`` images, each way in a fresh data dir), index memory per image.
* Look-alikes: precision@5 within category over the labelled pictures (all 144; each
  searches the others): each model's whole vectors, and the default pipeline over an
  index of just those pictures (``search/media``, no extra parameters). Categories
  with fewer than 6 pictures are searched in but not queried.

The figures go to a table on stdout and to bench/out/robustness.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench import photos as photo_set  # noqa: E402
from bench.edits import EDITS, PART_EDITS, make_edit  # noqa: E402

MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenetv2", "phash")
HELD_OUT = 20
DISTRACTOR_VERSION = 1
MIN_CATEGORY = 6


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# --- the picture set -----------------------------------------------------------------------------


def split(photos):
    """(gallery reals, held-out photographs): the held-out ones by a hash of their names."""
    ordered = sorted((p for p, _ in photos if p.kind == "photo"), key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    held = {p.name for p in ordered[:HELD_OUT]}
    return [(p, f) for p, f in photos if p.name not in held], [(p, f) for p, f in photos if p.name in held]


def is_flat(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as img:
        return float(np.asarray(img.convert("L").resize((64, 64)), dtype=np.float32).std()) < 4


def distractor_folder(count: int) -> Path:
    """``count`` distractor JPEGs (cached): video frames first, then generated scenes."""

    from bench.ingest import _photo, _texture
    from vframe_search.demo import draw_scene

    folder = OUT / f"distractors-v{DISTRACTOR_VERSION}-{count}"
    done = folder / "DONE"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    made = 0
    videos = OUT / "photos" / "debs" / "x" / "opencv-doc" / "usr/share/doc/opencv-doc/examples/data"
    import av

    for name in ("vtest.avi", "Megamind.avi", "tree.avi"):
        if made >= count or not (videos / name).is_file():
            continue
        with av.open(str(videos / name)) as container:
            for frame in container.decode(video=0):
                if made >= count:
                    break
                img = frame.to_image()
                img.thumbnail((640, 640))
                img.save(folder / f"d{made:05d}.jpg", "JPEG", quality=88)
                made += 1
    rng = np.random.default_rng(7)
    texture = _texture(rng, 512)
    started = time.perf_counter()
    while made < count:
        w, h = [(640, 480), (480, 640), (640, 360), (512, 512)][made % 4]
        img = _photo(w, h, rng, texture) if made % 3 else draw_scene(50_000 + made, (w, h))
        img.save(folder / f"d{made:05d}.jpg", "JPEG", quality=int(rng.integers(80, 94)))
        made += 1
        if made % 1000 == 0:
            log(f"  distractors: {made}/{count} ({time.perf_counter() - started:.0f} s)")
    done.write_text(str(count))
    return folder


def query_files(gallery, held) -> dict[str, list[tuple[str, bytes]]]:
    """edit -> [(source name, file bytes)]: every queried gallery picture and every
    held-out photo (cached per version of the edits under bench/out/queries)."""
    from PIL import Image

    hosts = [Image.open(f).convert("RGB") for _, f in held]
    cache = OUT / "queries-v1"
    out: dict[str, list[tuple[str, bytes]]] = {}
    for edit in EDITS:
        folder = cache / hashlib.sha256(edit.encode()).hexdigest()[:12]
        folder.mkdir(parents=True, exist_ok=True)
        items = []
        for i, (photo, path) in enumerate(gallery + held):
            target = folder / f"{photo.name}.jpg"
            if not target.is_file():
                with Image.open(path) as img:
                    data = make_edit(edit, img.convert("RGB"), seed=i, host=hosts[(i + (1 if i >= len(gallery) else 0)) % len(hosts)])
                target.write_bytes(data)
            items.append((photo.name, target.read_bytes()))
        out[edit] = items
    return out


# --- each model: whole-picture vectors, exact cosine ----------------------------------------------------


def embed_cached(name: str, key: str, sources: list, embedder) -> tuple[np.ndarray, float]:
    """Vectors of ``sources`` (paths or bytes) and ms per image (cached under key)."""
    cache = OUT / "cache" / f"{name}-{key}.npz"
    if cache.is_file():
        data = np.load(cache)
        return data["vectors"], float(data["ms"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    vectors = embedder.embed_images(sources)
    ms = (time.perf_counter() - started) / max(1, len(sources)) * 1000
    np.savez(cache, vectors=vectors, ms=ms)
    return vectors, ms


def index_bytes_per_item(dim: int, m: int = 16) -> int:
    """hnswlib's memory per element: the vector, level-0 links (2M ids), label, and the
    per-element overhead the project measured (search_app.indexing.index)."""
    from search_app.indexing.index import HNSW_OVERHEAD_PER_ELEMENT

    return dim * 4 + 2 * m * 4 + 4 + 8 + HNSW_OVERHEAD_PER_ELEMENT


def rank_of(scores: np.ndarray, target: int) -> int:
    return int(np.sum(scores > scores[target]))


def evaluate_models(models, gallery, distractors: list[Path], queries, held, labelled, key: str) -> dict:
    from modelzoo.embedding import get_embedder

    names = [p.name for p, _ in gallery]
    position = {n: i for i, n in enumerate(names)}
    report = {}
    for model in models:
        log(f"model {model}: embedding the gallery")
        embedder = get_embedder(model)
        reals, ms_real = embed_cached(model, f"reals-{key}", [str(f) for _, f in gallery], embedder)
        dist, ms_dist = embed_cached(model, f"distractors-{len(distractors)}", [str(f) for f in distractors], embedder)
        allv = np.concatenate([reals, dist])
        per_edit = {}
        query_ms = []
        for edit, items in queries.items():
            wanted = [(n, b) for n, b in items if n in position and n in queried_names(gallery)]
            vectors, ms = embed_cached(model, f"q-{key}-{hashlib.sha256(edit.encode()).hexdigest()[:10]}", [b for _, b in wanted], embedder)
            query_ms.append(ms)
            sims = vectors @ allv.T
            ranks = np.array([rank_of(sims[i], position[n]) for i, (n, _) in enumerate(wanted)])
            per_edit[edit] = {"top1": float(np.mean(ranks == 0)), "recall10": float(np.mean(ranks < 10)), "queries": len(wanted)}
        look = lookalike_models(embedder, model, labelled, key)
        report[model] = {
            "edits": per_edit,
            "ms_per_image_ingest": round((ms_real * len(gallery) + ms_dist * len(distractors)) / (len(gallery) + len(distractors)), 2),
            "ms_per_query": round(float(np.mean(query_ms)), 2),
            "index_bytes_per_image": index_bytes_per_item(embedder.dim),
            "lookalike_p5": look,
        }
        log(f"model {model}: done")
    return report


_queried: set[str] | None = None


def queried_names(gallery) -> set[str]:
    global _queried
    if _queried is None:
        _queried = {p.name for p, f in gallery if not is_flat(f)}
    return _queried


def lookalike_models(embedder, model: str, labelled, key: str) -> dict:
    vectors, _ = embed_cached(model, f"labelled-{key}", [str(f) for _, f in labelled], embedder)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    cats = [p.category for p, _ in labelled]
    order = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    return precision_at_5(cats, [[int(j) for j in row] for row in order])


def precision_at_5(cats: list[str], neighbours: list[list[int]]) -> dict:
    counts: dict[str, int] = {}
    for c in cats:
        counts[c] = counts.get(c, 0) + 1
    per_cat: dict[str, list[float]] = {}
    for i, row in enumerate(neighbours):
        if counts[cats[i]] < MIN_CATEGORY:
            continue
        per_cat.setdefault(cats[i], []).append(sum(cats[j] == cats[i] for j in row[:5]) / 5)
    all_values = [v for vs in per_cat.values() for v in vs]
    return {
        "p5": round(float(np.mean(all_values)), 3) if all_values else None,
        "p5_macro": round(float(np.mean([np.mean(v) for v in per_cat.values()])), 3) if per_cat else None,
        "per_category": {c: round(float(np.mean(v)), 3) for c, v in sorted(per_cat.items())},
        "queries": len(all_values),
    }


# --- the default pipeline ----------------------------------------------------------------------------


def setup_django(data_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "vframe_search.settings"
    os.environ["VFRAME_DATA_DIR"] = str(data_dir)
    import django

    django.setup()


def ingest_folder(folder: Path, model: str, *, regions_on: bool) -> tuple[object, float, int]:
    """A new hnsw feature of ``model`` and ``manage.py ingest FOLDER --feature ID``:
    (feature, seconds, images)."""
    from django.conf import settings
    from django.core.management import call_command

    from search_app.models import Feature

    settings.REGION_VECTORS = regions_on
    feature = Feature.objects.create(modelzoo_name=model, index_type="hnsw")
    started = time.perf_counter()
    call_command("ingest", str(folder), features=[feature.pk], no_progress=True, stdout=io.StringIO())
    seconds = time.perf_counter() - started
    feature.refresh_from_db()
    return feature, seconds, feature.item_count


def link_folder(target: Path, files: list[Path]) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for i, f in enumerate(files):
        os.link(f, target / f"{i:05d}-{f.name}") if f.stat().st_dev == target.stat().st_dev else shutil.copyfile(f, target / f"{i:05d}-{f.name}")
    return target


def run_phase(phase: str, args, work: Path) -> dict:
    """One step of the pipeline evaluation in its own process and data dir (a fresh
    SQLite database and index dir), as an operator would run it."""
    import subprocess

    data_dir = work / phase
    if not (args.work and phase == "gallery"):
        shutil.rmtree(data_dir, ignore_errors=True)
    out = work / f"{phase}.json"
    command = [sys.executable, __file__, "--phase", phase, "--phase-out", str(out), "--threads", str(args.threads), "--per-edit", str(args.per_edit)]
    command += ["--ingest-sample", str(args.ingest_sample), "--distractors", str(args.distractors_count)]
    env = {**os.environ, "VFRAME_DATA_DIR": str(data_dir), "VFRAME_EMBED_THREADS": str(args.threads)}
    env.pop("DATABASE_URL", None)
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def evaluate_pipeline(args, work: Path) -> dict:
    report: dict = {}
    timings: dict[str, list[float]] = {"off": [], "on": []}
    parts = set(args.pipeline.split(","))
    for flag in ("off", "on", "off", "on") if "ingest" in parts else ():
        part = run_phase(f"ingest-{flag}", args, work)
        timings[flag].append(part["ms_per_image"])
        log(f"ingest of {part['images']} images, region vectors {flag}: {part['ms_per_image']:.1f} ms per image (load {load_average()})")
        report["model"] = part["model"]
    if "ingest" in parts:
        off, on = min(timings["off"]), min(timings["on"])
        report["ingest"] = {
            "images": args.ingest_sample,
            "ms_per_image_without_regions": round(off, 1),
            "ms_per_image_with_regions": round(on, 1),
            "throughput_ratio": round(off / on, 3),
            "runs": timings,
        }
    if "gallery" in parts:
        report.update(run_phase("gallery", args, work))
    if "lookalike" in parts:
        report["lookalike_p5"] = run_phase("lookalike", args, work)["lookalike_p5"]
    return report


def phase_main(args) -> None:
    """The child side of run_phase."""
    from django.core.management import call_command

    setup_django(Path(os.environ["VFRAME_DATA_DIR"]))
    import torch

    torch.set_num_threads(args.threads)
    call_command("migrate", verbosity=0)
    photos = photo_set.load()
    gallery, held = split(photos)
    distractors = sorted(distractor_folder(args.distractors_count).glob("*.jpg"))
    work = Path(os.environ["VFRAME_DATA_DIR"]) / "in"
    if args.phase.startswith("ingest-"):
        n = args.ingest_sample
        sample = [f for _, f in gallery][: n // 4] + distractors[: n - n // 4]
        # Each run imports its own re-encoded copies: new bytes, the same pictures.
        folder = work / "sample"
        folder.mkdir(parents=True)
        salt = args.phase + str(time.time())
        for i, f in enumerate(sample):
            (folder / f"{i:05d}.jpg").write_bytes(f.read_bytes() + salt.encode())  # trailing bytes: same decode, new sha256
        _, seconds, count = ingest_folder(folder, default_model(), regions_on=args.phase == "ingest-on")
        result = {"model": default_model(), "images": count, "ms_per_image": seconds / max(1, count) * 1000}
    elif args.phase == "gallery":
        result = pipeline_gallery(args, gallery, held, distractors, work)
    else:
        result = pipeline_lookalike(photos, work)
    Path(args.phase_out).write_text(json.dumps(result))


def default_model() -> str:
    from modelzoo.weights import default_model_name

    return default_model_name()


def pipeline_gallery(args, gallery, held, distractors: list[Path], work: Path) -> dict:
    from django.core.management import call_command

    from media_app.models import Media
    from media_app.services import upload_create
    from search_app.indexing import engine, regions
    from search_app.models import Feature
    from search_app.query import matching
    from search_app.query.search import SearchOptions, search_run
    from search_app.query.sources import UploadSource

    queries = query_files(gallery, held)
    feature = Feature.objects.filter(modelzoo_name=default_model(), item_count__gt=0).first()
    if feature is None:
        folder = link_folder(work / "gallery", [f for _, f in gallery] + distractors)
        feature, seconds, count = ingest_folder(folder, default_model(), regions_on=True)
        report: dict = {"gallery": {"items": count, "ingest_seconds": round(seconds, 1), "ms_per_image": round(seconds / max(1, count) * 1000, 1)}}
        log(f"gallery: {count} items in {seconds:.0f} s (load {load_average()})")
    else:  # --work: the gallery imported by an earlier run, searched again
        call_command("media_hashes", no_progress=True, stdout=io.StringIO())  # what the ingest stores now
        report = {"gallery": {"items": feature.item_count, "reused": True}}
        log(f"gallery: {feature.item_count} items imported by an earlier run")
    by_name = {}
    names = {i: p.name for i, (p, _) in enumerate(gallery)}
    for pk, source_path in Media.objects.values_list("pk", "source_path"):
        position = int(Path(source_path).name.split("-", 1)[0])
        if position in names:
            by_name[names[position]] = pk
    index = engine.get_index(feature)
    region_idx = regions.for_index(index)
    memory = index.memory_bytes + (region_idx.memory_bytes if region_idx else 0)
    report["index"] = {
        "whole_vectors": index.count,
        "region_vectors": region_idx.count if region_idx else 0,
        "memory_bytes": memory,
        "memory_bytes_per_image": round(memory / max(1, index.count)),
    }
    queried = queried_names(gallery)
    kinds = {p.name: p.kind for p, _ in gallery}
    held_names = {p.name for p, _ in held}
    per_edit = {}
    false_pairs = copy_false = 0
    false_examples = []
    true_scores: dict[str, list[float]] = {}
    unrelated_scores: list[float] = []
    # (score, verified) of every true and every unrelated pair: the copy label each copy
    # threshold would give (verified, or scoring at least the threshold).
    true_pairs: list[tuple[float, bool]] = []
    unrelated_pairs: list[tuple[float, bool]] = []
    verified_false = 0
    false_reasons: dict[str, int] = {}  # what made an unrelated result a copy: the check, the hash or the score
    query_ms: list[float] = []
    for edit, items in queries.items():
        chosen = [(n, b) for n, b in items if n in queried][: args.per_edit or None] + [(n, b) for n, b in items if n in held_names][: args.per_edit or None]
        ranks, labels, times = [], [], []
        for name, data in chosen:
            upload, _ = upload_create(stream=io.BytesIO(data), original_name=f"{name}.jpg")
            started = time.perf_counter()
            outcome = search_run(source=UploadSource(upload), options=SearchOptions(limit=10))
            times.append((time.perf_counter() - started) * 1000)
            ids = [h.media_id for h in outcome.hits]
            source = by_name.get(name) if name not in held_names else None
            for hit in outcome.hits:
                match = outcome.matches.get(hit.media_id)
                if hit.media_id == source:
                    true_scores.setdefault(edit, []).append(hit.score)
                    true_pairs.append((hit.score, bool(match is not None and match.verified)))
                    labels.append(match.label if match else "?")
                    continue
                false_pairs += 1
                unrelated_scores.append(hit.score)
                unrelated_pairs.append((hit.score, bool(match is not None and match.verified)))
                verified_false += bool(match is not None and match.verified)
                if match is not None and match.label in ("copy", "exact"):
                    copy_false += 1
                    reason = "geometry" if match.inliers else "hash" if match.verified else "score"
                    false_reasons[f"{reason} via {match.via}"] = false_reasons.get(f"{reason} via {match.via}", 0) + 1
                    if len(false_examples) < 30:
                        false_examples.append(
                            {
                                "edit": edit,
                                "query": name,
                                "result": hit.media_id,
                                "score": round(hit.score, 3),
                                "verified": match.verified,
                                "inliers": match.inliers,
                                "via": match.via,
                            }
                        )
            if source is not None:
                ranks.append(ids.index(source) if source in ids else 99)
        query_ms += times
        ranks_a = np.array(ranks)
        sourced = [c for c in chosen if c[0] not in held_names]
        per_edit[edit] = {
            "top1": float(np.mean(ranks_a == 0)) if ranks_a.size else None,
            "recall10": float(np.mean(ranks_a < 10)) if ranks_a.size else None,
            "copy_label": float(np.mean([lb == "copy" for lb in labels])) if labels else None,
            "queries": int(ranks_a.size),
            # The same over the photographs alone (the rest is artwork: gradients and flat
            # shapes with few keypoints, whose crops the checks cannot confirm).
            "top1_photographs": float(np.mean([r == 0 for (n, _), r in zip(sourced, ranks, strict=True) if kinds.get(n) == "photo"] or [np.nan])),
            "misses": [n for (n, _), r in zip([c for c in chosen if c[0] not in held_names], ranks, strict=True) if r != 0][:10],
        }
        log(
            f"pipeline {edit}: top-1 {per_edit[edit]['top1']:.3f} r@10 {per_edit[edit]['recall10']:.3f} copy {per_edit[edit]['copy_label']:.3f} ({np.mean(times):.0f} ms/q, load {load_average()})"
        )
    report["edits"] = per_edit
    report["copy_false_match"] = {
        "pairs": false_pairs,
        "copy_labels": copy_false,
        "rate": copy_false / max(1, false_pairs),
        "verified": verified_false,
        "by_reason": false_reasons,
        "score_quantiles": {q: round(float(np.percentile(unrelated_scores, q)), 4) for q in (50, 99, 99.9, 100)} if unrelated_scores else {},
        "examples": false_examples,
    }
    report["copy_thresholds"] = {
        str(t): {
            "false_copy_rate": round(sum(v or sc >= t for sc, v in unrelated_pairs) / max(1, len(unrelated_pairs)), 5),
            "true_copy_labelled": round(sum(v or sc >= t for sc, v in true_pairs) / max(1, len(true_pairs)), 4),
        }
        for t in (0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 1.01)
    }
    report["true_copy_scores"] = {
        e: {"min": round(min(v), 3), "p1": round(float(np.percentile(v, 1)), 3), "median": round(float(np.median(v)), 3)} for e, v in true_scores.items() if v
    }
    report["ms_per_query"] = {
        "mean": round(float(np.mean(query_ms)), 1),
        "p50": round(float(np.percentile(query_ms, 50)), 1),
        "p90": round(float(np.percentile(query_ms, 90)), 1),
    }
    report["settings"] = {
        "verify_top": matching.VERIFY_TOP,
        "copy_score": matching.COPY_SCORES.get(default_model()),
        "verify_min_score": matching.VERIFY_MIN_SCORE,
    }
    return report


def pipeline_lookalike(photos, work: Path) -> dict:
    """An index of just the labelled pictures, each searched by media (search/media)."""
    from media_app.models import Media
    from search_app.query.search import SearchOptions, search_run
    from search_app.query.sources import MediaSource

    folder = link_folder(work / "labelled", [f for _, f in photos])
    ingest_folder(folder, default_model(), regions_on=True)
    pk_at = {int(Path(source_path).name.split("-", 1)[0]): pk for pk, source_path in Media.objects.values_list("pk", "source_path")}
    at_pk = {pk: i for i, pk in pk_at.items()}
    neighbours = []
    for i in range(len(photos)):
        outcome = search_run(source=MediaSource.from_id(pk_at[i]), options=SearchOptions(limit=5))
        neighbours.append([at_pk[h.media_id] for h in outcome.hits])
    return {"lookalike_p5": precision_at_5([p.category for p, _ in photos], neighbours)}


# --- output -------------------------------------------------------------------------------------------


def table(result: dict) -> str:
    columns = [(m, result["models"][m]["edits"]) for m in result.get("models", {})]
    if "edits" in result.get("pipeline", {}):
        columns.append(("default pipeline", result["pipeline"]["edits"]))
    lines = ["| edit | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    for edit in EDITS:
        cells = []
        for _, edits in columns:
            e = edits.get(edit)
            cells.append(f"{e['top1']:.3f} / {e['recall10']:.3f}" if e and e.get("top1") is not None else "-")
        lines.append(f"| {edit}{' (part)' if edit in PART_EDITS else ''} | " + " | ".join(cells) + " |")
    extra = []
    for name, key in (("look-alikes precision@5", "lookalike_p5"),):
        row = []
        for model in result.get("models", {}):
            row.append(f"{result['models'][model][key]['p5']:.3f}")
        if "pipeline" in result:
            row.append(f"{result['pipeline'][key]['p5']:.3f}" if key in result["pipeline"] else "-")
        extra.append(f"| {name} | " + " | ".join(row) + " |")
    row = [f"{result['models'][m]['ms_per_image_ingest']:.1f}" for m in result.get("models", {})]
    if "pipeline" in result:
        row.append(f"{result['pipeline']['ingest']['ms_per_image_with_regions']:.1f} (whole ingest)" if "ingest" in result["pipeline"] else "-")
    extra.append("| ms per image, ingest | " + " | ".join(row) + " |")
    row = [f"{result['models'][m]['ms_per_query']:.1f}" for m in result.get("models", {})]
    if "pipeline" in result:
        row.append(f"{result['pipeline']['ms_per_query']['mean']:.0f} (whole search)" if "ms_per_query" in result["pipeline"] else "-")
    extra.append("| ms per query | " + " | ".join(row) + " |")
    row = [f"{result['models'][m]['index_bytes_per_image']:,}" for m in result.get("models", {})]
    if "pipeline" in result:
        row.append(f"{result['pipeline']['index']['memory_bytes_per_image']:,}" if "index" in result["pipeline"] else "-")
    extra.append("| index bytes per image | " + " | ".join(row) + " |")
    return "\n".join(lines + extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=10_000, help="gallery items: the real pictures plus distractors up to this many")
    parser.add_argument("--distractors", type=int, default=None, help="distractors (overrides --gallery)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--per-edit", type=int, default=0, help="at most this many queries per edit through the pipeline (0: all)")
    parser.add_argument("--ingest-sample", type=int, default=400, help="images imported each way to time region vectors")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: no OpenMP waits on a shared machine)")
    parser.add_argument("--json", type=Path, default=OUT / "robustness.json")
    parser.add_argument("--pipeline", default="ingest,gallery,lookalike", help="parts of the pipeline evaluation to run")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the pipeline's data dirs here; a later run with the same dir searches the gallery again without importing it",
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        args.distractors_count = args.distractors
        phase_main(args)
        return

    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="vframe-bench-robust-"))
    os.environ["VFRAME_EMBED_THREADS"] = str(args.threads)
    setup_django(work / "boot")
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    photos = photo_set.load()
    gallery, held = split(photos)
    count = args.distractors if args.distractors is not None else max(0, args.gallery - len(gallery))
    args.distractors_count = count
    distractors = sorted(distractor_folder(count).glob("*.jpg"))
    log(f"{len(gallery)} gallery pictures, {len(held)} held out, {len(distractors)} distractors (load {load_average()})")
    queries = query_files(gallery, held)
    labelled = photos
    key = hashlib.sha256(json.dumps([p.name for p, _ in gallery]).encode()).hexdigest()[:10]
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "torch_threads": args.threads,
        "gallery": {
            "real": len(gallery),
            "real_photographs": sum(p.kind == "photo" for p, _ in gallery),
            "distractors": len(distractors),
            "held_out": len(held),
        },
        "queried_per_edit": len(queried_names(gallery)),
        "load_average_start": load_average(),
    }
    if not args.skip_models:
        result["models"] = evaluate_models([m for m in args.models.split(",") if m], gallery, distractors, queries, held, labelled, key)
    if not args.skip_pipeline:
        result["pipeline"] = evaluate_pipeline(args, work)
    result["load_average_end"] = load_average()
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(
        f"\n== top-1 / recall@10 per edit; gallery {len(gallery) + len(distractors)} items ({len(gallery)} real); {os.cpu_count()} CPUs, load {result['load_average_start']} -> {result['load_average_end']}"
    )
    print(table(result))
    p = result.get("pipeline", {})
    if "copy_false_match" in p:
        print(
            f"\ncopy label on unrelated pairs: {p['copy_false_match']['copy_labels']} of {p['copy_false_match']['pairs']} ({p['copy_false_match']['rate']:.3%})"
        )
    if "ingest" in p:
        print(
            f"ingest throughput with region vectors: {p['ingest']['throughput_ratio']:.2f} x without ({p['ingest']['ms_per_image_without_regions']} vs {p['ingest']['ms_per_image_with_regions']} ms per image)"
        )
    if "index" in p:
        print(
            f"index memory: {p['index']['memory_bytes_per_image']:,} bytes per image ({p['index']['whole_vectors']} whole + {p['index']['region_vectors']} region vectors)"
        )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n({result['seconds']:.0f} s; JSON in {args.json})")


if __name__ == "__main__":
    main()
