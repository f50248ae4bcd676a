"""Near-duplicate thresholds per model, measured on the demo library.

The demo library (``manage.py demo``: vframe_search/demo.py) is 40 scenes, four copies
of every fourth one (re-encoded, resized, cropped, recoloured) and the keyframes of a
short video. The true groups are known: a scene with its copies. Each model embeds the
library exactly as an ingest does (modelzoo's embedder), and the groups are the
connected components of all pairs at or above a threshold, as search_app's
``group_edges`` joins them. Printed per threshold: groups, items in groups, the
largest group, and pair precision / recall against the true groups.

The registry's ``duplicate_threshold`` of each model (modelzoo/registry.py) is the
lowest threshold here with pair precision 1.0 (no unrelated scenes joined).

    python bench/duplicate_thresholds.py                          # efficientnet_lite0 and phash
    python bench/duplicate_thresholds.py --models efficientnet_lite0 resnet18-random
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THRESHOLDS = [0.8, 0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995, 0.998]


def setup_django(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vframe_search.settings")
    os.environ["VFRAME_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("VFRAME_ALLOW_RANDOM_WEIGHTS", "1")
    import django

    django.setup()


def demo_library(folder: Path) -> tuple[list[bytes], list[str]]:
    """The demo's images and video keyframes as JPEG/PNG bytes, with each one's true group."""
    from media_app.video import KeyframeOptions, extract_keyframes
    from vframe_search.demo import write_demo_set, write_demo_video

    images, groups = [], []
    for path in sorted(write_demo_set(folder / "set")):
        images.append(path.read_bytes())
        groups.append(re.match(r"scene_\d+", path.name).group(0))
    video = write_demo_video(folder / "video" / "demo.mp4")
    options = KeyframeOptions.from_settings()
    _, keyframes, _ = extract_keyframes(video, video_sha256="0" * 64, out_dir=folder / "frames", options=options)
    for kf in keyframes:
        images.append(kf.path.read_bytes())
        groups.append(f"frame_{kf.frame_number}")
    return images, groups


def components(sims: np.ndarray, threshold: float) -> list[set[int]]:
    n = len(sims)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(*np.nonzero(np.triu(sims >= threshold, 1)), strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, set[int]] = {}
    for x in range(n):
        members.setdefault(find(x), set()).add(x)
    return [m for m in members.values() if len(m) > 1]


def measure(model: str, images: list[bytes], groups: list[str]) -> None:
    from modelzoo.embedding import get_embedder

    vectors = get_embedder(model).embed_images(images).astype(np.float32)
    sims = vectors @ vectors.T
    true_pairs = {(a, b) for a, b in combinations(range(len(groups)), 2) if groups[a] == groups[b]}
    print(f"\n{model}: {len(images)} items, {len({g for g in groups})} true groups, {len(true_pairs)} true pairs")
    print(f"{'threshold':>9}  {'groups':>6}  {'grouped':>7}  {'largest':>7}  {'precision':>9}  {'recall':>6}")
    for threshold in THRESHOLDS:
        found = components(sims, threshold)
        pairs = {pair for group in found for pair in combinations(sorted(group), 2)}
        hits = len(pairs & true_pairs)
        precision = hits / len(pairs) if pairs else 1.0
        recall = hits / len(true_pairs) if true_pairs else 1.0
        largest = max((len(g) for g in found), default=0)
        print(f"{threshold:>9}  {len(found):>6}  {sum(len(g) for g in found):>7}  {largest:>7}  {precision:>9.3f}  {recall:>6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["efficientnet_lite0", "phash"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp) / "data")
        images, groups = demo_library(Path(tmp))
        for model in args.models:
            measure(model, images, groups)


if __name__ == "__main__":
    main()
