"""Writes of the model zoo: fetching weights onto this machine."""

from __future__ import annotations

import logging

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
