"""Writes of the model zoo: fetching weights onto this machine; and trying a model out
(``manage.py modelzoo test``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from core.progress import Reporter, as_reporter

from .registry import get_model
from .weights import download_weights

logger = logging.getLogger(__name__)


def model_download(*, name: str, force: bool = False, reporter: Reporter | None = None) -> dict:
    """Download the weights of model ``name`` into ``MODELS_DIR/name/``.

    Idempotent (an existing file is kept unless ``force``). Raises NotFound for an
    unknown name and DownloadFailed (503) with the reason when it cannot fetch them,
    e.g. on a machine without internet.
    """
    spec = get_model(name)
    reporter = as_reporter(reporter)
    reporter(0, 1, f"downloading {spec.weights_source}")
    path = download_weights(spec, force=force)
    reporter(1, 1, f"saved {path}")
    logger.info("weights of %s are at %s", name, path)
    return {"name": spec.name, "path": str(path), "bytes": path.stat().st_size}


def sample_picture():
    """A fixed 640x480 picture (gradient sky, shapes, a dark block), for trying a model
    on this machine without any file."""
    import numpy as np
    from PIL import Image, ImageDraw

    y = np.linspace(0, 1, 480, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, 640, dtype=np.float32)[None, :, None]
    base = (np.array([90, 150, 220], np.float32) * (1 - y) + np.array([60, 110, 60], np.float32) * y) * (0.8 + 0.2 * x)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((80, 260, 300, 400), fill=(150, 40, 40))
    draw.ellipse((380, 120, 560, 300), fill=(230, 200, 40))
    draw.rectangle((420, 330, 600, 440), fill=(30, 30, 35))
    return img


def model_test(*, name: str, image: str | Path | None = None, runs: int = 3) -> dict:
    """Load model ``name`` (its weights checked), run it on ``image`` (default: the
    sample picture) ``runs`` times and say how long it took and what it answered.
    Raises the model's own errors (weights missing or damaged, a file that does not
    match its entry)."""
    from PIL import Image

    from .registry import EmbeddingModelSpec

    spec = get_model(name)
    picture = Image.open(image) if image else sample_picture()
    picture.load()
    started = time.perf_counter()
    if isinstance(spec, EmbeddingModelSpec):
        from .embedding import get_embedder

        model = get_embedder(name)
        run = lambda: model.embed_images([picture])  # noqa: E731
    else:
        from .detection import get_detector

        model = get_detector(name)
        run = lambda: model.detect(picture)  # noqa: E731
    load_ms = (time.perf_counter() - started) * 1000
    timings, out = [], None
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        out = run()
        timings.append((time.perf_counter() - started) * 1000)
    result = {
        "name": spec.name,
        "type": spec.type,
        "runtime": spec.runtime,
        "image": str(image) if image else "sample picture (640x480)",
        "load_ms": round(load_ms, 1),
        "first_ms": round(timings[0], 1),
        "mean_ms": round(sum(timings[1:] or timings) / len(timings[1:] or timings), 1),
        "runs": len(timings),
    }
    if isinstance(spec, EmbeddingModelSpec):
        result.update(output_shape=list(out.shape), norm=round(float((out[0] ** 2).sum() ** 0.5), 4))
    else:
        result.update(output_shape=[len(out), 6], detections=out[:10])
    return result
