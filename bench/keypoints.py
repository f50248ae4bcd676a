#!/usr/bin/env python
"""Search by media on camera-size photographs: the geometric check with and without the
stored pictures' keypoints kept (search_app.query.keypoint_store).

    python bench/keypoints.py                 # 40 photographs at 4000 x 3000
    python bench/keypoints.py --photos 20 --side 2000

In a throwaway data dir (SQLite): the first ``--photos`` photographs of bench/photos.py,
each enlarged to ``--side`` pixels on its longer side and saved as a JPEG at quality 90
(the size a phone or camera stores), and a re-posted copy of each (its central 75%,
smaller, quality 80), imported with ``manage.py ingest`` into the default model's feature
(region vectors on). Then every media is searched by media (``search/media``, no extra
parameters; each finds at least its original or its copy to check) in two passes:

* cold: nothing kept (removed before each search), so the check decodes each result it
  checks, as every search did before keypoints were kept, and as the first search to
  meet a picture still does;
* kept: after ``manage.py keypoints`` (timed: ms a picture, bytes a picture).

Before every search the in-process cache of keypoints is emptied: in a large archive
served by several processes the first results of a search are rarely among the 512
pictures one process last checked. Figures: p50 / p90 of the whole ``search_run`` and of
its ``verify`` step, with the date and the load average.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import photos as photo_set  # noqa: E402


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def camera_size(files: list[Path], folder: Path, side: int) -> list[Path]:
    """Each picture at ``side`` pixels (quality 90), and a copy of it re-posted: cropped to
    its central 75% and saved at 60% of that size, quality 80."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        with Image.open(f) as img:
            img = img.convert("RGB")
            scale = side / max(img.size)
            big = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
        target = folder / f"{i:03d}-{f.stem}.jpg"
        big.save(target, "JPEG", quality=90)
        w, h = big.size
        copy = big.crop((round(w * 0.125), round(h * 0.125), round(w * 0.875), round(h * 0.875)))
        copy = copy.resize((round(copy.width * 0.6), round(copy.height * 0.6)), Image.Resampling.BILINEAR)
        copy.save(folder / f"{i:03d}-{f.stem}-copy.jpg", "JPEG", quality=80)
        out.append(target)
    return out


def search_all(ids: list[int], *, forget_kept: bool = False) -> dict:
    """Each media searched once; ``forget_kept``: no keypoints kept before each search."""
    from django.conf import settings

    from search_app.query import geometry, keypoint_store
    from search_app.query.search import SearchOptions, search_run
    from search_app.query.sources import MediaSource

    total, verify = [], []
    for pk in ids:
        if forget_kept:
            shutil.rmtree(Path(settings.MEDIA_ROOT) / keypoint_store.PREFIX, ignore_errors=True)
        geometry.stored_keypoints.clear()
        started = time.perf_counter()
        outcome = search_run(source=MediaSource.from_id(pk), options=SearchOptions(limit=10))
        total.append((time.perf_counter() - started) * 1000)
        verify.append(outcome.timing_ms.get("verify", 0.0))
    return {
        "search_p50_ms": round(float(np.percentile(total, 50)), 1),
        "search_p90_ms": round(float(np.percentile(total, 90)), 1),
        "verify_p50_ms": round(float(np.percentile(verify, 50)), 1),
        "verify_p90_ms": round(float(np.percentile(verify, 90)), 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--side", type=int, default=4000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    pictures = [path for photo, path in photo_set.load() if photo.kind == "photo"][: args.photos]
    work = Path(tempfile.mkdtemp(prefix="vframe-bench-keypoints-"))
    try:
        os.environ["DJANGO_SETTINGS_MODULE"] = "vframe_search.settings"
        os.environ["VFRAME_DATA_DIR"] = str(work / "data")
        os.environ.setdefault("VFRAME_LOG_LEVEL", "WARNING")
        import django

        django.setup()
        from django.core.files.storage import default_storage
        from django.core.management import call_command

        from media_app.models import Media
        from search_app.models import Feature
        from search_app.query import keypoint_store

        call_command("migrate", verbosity=0, interactive=False)
        files = camera_size(pictures, work / "photos", args.side)
        log(f"{len(files)} photographs at {args.side} px, {sum(f.stat().st_size for f in files) / len(files) / 2**20:.1f} MiB each, and a copy of each")
        feature = Feature.objects.create(modelzoo_name=_default_model(), index_type="hnsw")
        call_command("ingest", str(work / "photos"), features=[feature.pk], no_progress=True, stdout=io.StringIO())
        ids = list(Media.objects.order_by("pk").values_list("pk", flat=True))
        # Model, index and code paths warm, and each query's own crop vectors stored (kept
        # per picture: a repeated search reads them), so both passes below differ only
        # in the kept keypoints.
        search_all(ids)

        load_before = " ".join(f"{v:.1f}" for v in os.getloadavg())
        cold = search_all(ids, forget_kept=True)
        started = time.perf_counter()
        call_command("keypoints", no_progress=True, stdout=io.StringIO())
        keep_ms = (time.perf_counter() - started) * 1000 / len(ids)
        names = [keypoint_store.name_for(s) for s in Media.objects.values_list("sha256", flat=True)]
        kept_bytes = sum(default_storage.size(n) for n in names) / len(names)
        kept = search_all(ids)
        fig = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{load_before} / {' '.join(f'{v:.1f}' for v in os.getloadavg())}",
            "photos": len(ids),
            "side": args.side,
            "cold": cold,
            "kept": kept,
            "keypoints_ms_per_picture": round(keep_ms, 1),
            "keypoints_bytes_per_picture": round(kept_bytes),
        }
        print(
            f"search/media over {len(ids)} media ({len(ids) // 2} photographs at {args.side} px and a copy of each), {fig['date']}, load average before / after {fig['load']}\n"
            f"  cold (the check decodes its results): search p50 {cold['search_p50_ms']} / p90 {cold['search_p90_ms']} ms, "
            f"verify p50 {cold['verify_p50_ms']} / p90 {cold['verify_p90_ms']} ms\n"
            f"  kept (manage.py keypoints first):    search p50 {kept['search_p50_ms']} / p90 {kept['search_p90_ms']} ms, "
            f"verify p50 {kept['verify_p50_ms']} / p90 {kept['verify_p90_ms']} ms\n"
            f"  manage.py keypoints: {fig['keypoints_ms_per_picture']} ms and {fig['keypoints_bytes_per_picture']:,} bytes a picture"
        )
        if args.json:
            args.json.write_text(json.dumps(fig, indent=1))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _default_model() -> str:
    from modelzoo.weights import default_model_name

    return default_model_name()


if __name__ == "__main__":
    sys.exit(main())
