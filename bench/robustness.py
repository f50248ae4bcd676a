"""Copy detection: the share of transformed copies whose original ranks first.

A few hundred photo-like scenes (vframe_search.demo.draw_scene, 640x480) are the
collection; each gets one copy per transformation, and each copy is searched against
the originals (exact cosine over all of them, so the index's recall does not enter).
A copy scores a hit when its own original is the top result.

Models: the perceptual hash (``phash``, 64 slots / 63 bits), a richer 256-slot variant of
the same hash (16x16 DCT block of a 64x64 image; measured here, not in the model zoo
unless it wins), and the default embedding model's architecture. This machine has no
pretrained weights: the default ``resnet18`` is measured as ``resnet18-random`` (same
network, random weights from a fixed seed), which says nothing about what the
pretrained resnet18 would score. Run with ``--model resnet18`` where its weights exist.

    python bench/robustness.py                 # 300 originals
    python bench/robustness.py --originals 100 --model resnet18
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRANSFORMS = ("re-encoded", "resized", "cropped", "recoloured")


def setup_django(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vframe_search.settings")
    os.environ["VFRAME_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("VFRAME_ALLOW_RANDOM_WEIGHTS", "1")
    import django

    django.setup()


def jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def transformed(img: Image.Image, kind: str) -> bytes:
    """The copy as a file would arrive: demo.make_copy's transformation, then JPEG.
    Re-encoded is a harsh quality 40; the others are saved at 85 like a phone would."""
    from vframe_search.demo import make_copy

    if kind == "re-encoded":
        return jpeg(img, 40)
    return jpeg(make_copy(img, kind), 85)


def top1_share(originals: np.ndarray, copies: np.ndarray) -> float:
    best = np.argmax(copies @ originals.T, axis=1)
    return float(np.mean(best == np.arange(len(copies))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--originals", type=int, default=300)
    parser.add_argument("--model", default="resnet18-random", help="the neural model to compare (default: resnet18's architecture, random weights)")
    args = parser.parse_args()
    setup_django(Path(tempfile.mkdtemp(prefix="vframe-bench-robust-")))

    from modelzoo.embedding import get_embedder
    from modelzoo.phash import phash_prepare, phash_vectors
    from vframe_search.demo import draw_scene

    t0 = time.perf_counter()
    scenes = [draw_scene(5000 + i) for i in range(args.originals)]
    originals = [jpeg(img, 92) for img in scenes]
    copies = {kind: [transformed(img, kind) for img in scenes] for kind in TRANSFORMS}
    print(f"{args.originals} originals and {len(TRANSFORMS)} x {args.originals} copies made in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    def phash256(sources: list[bytes]) -> np.ndarray:
        arrays = [phash_prepare(Image.open(io.BytesIO(s)), 64) for s in sources]
        return phash_vectors(np.stack(arrays), 16)

    embedders = {
        "phash (64)": get_embedder("phash").embed_images,
        "phash-256 variant": phash256,
        args.model: get_embedder(args.model).embed_images,
    }
    table: dict[str, dict[str, float]] = {}
    timing: dict[str, float] = {}
    for name, embed in embedders.items():
        t0 = time.perf_counter()
        base = embed(originals)
        table[name] = {kind: top1_share(base, embed(copies[kind])) for kind in TRANSFORMS}
        timing[name] = (time.perf_counter() - t0) / (args.originals * (1 + len(TRANSFORMS))) * 1000
        print(f"{name}: done ({timing[name]:.2f} ms an image)", file=sys.stderr)

    print(f"\n== Copies whose original ranks first, {args.originals} originals (640x480 scenes), {os.cpu_count()} CPUs")
    print("| transformation | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for kind in TRANSFORMS:
        print(f"| {kind} | " + " | ".join(f"{table[name][kind]:.1%}" for name in table) + " |")
    print("| ms an image (decode + embed) | " + " | ".join(f"{timing[name]:.2f}" for name in table) + " |")
    print(
        "\nre-encoded: JPEG quality 40; resized: half size; cropped: 10% off each side; recoloured: brightness x1.2, saturation x0.6 "
        f"(vframe_search.demo.make_copy), each saved as JPEG 85. {args.model}: random weights (no pretrained weights on this machine)."
    )


if __name__ == "__main__":
    main()
