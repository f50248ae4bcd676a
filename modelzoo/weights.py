"""Where a model's weights are, and fetching them.

Lookup order for a model called NAME:

1. a local file ``settings.MODELS_DIR/NAME/model.safetensors`` (or ``model.pth`` /
   ``pytorch_model.bin``): what ``manage.py modelzoo_download NAME`` writes, and where
   an operator on an offline machine copies a file by hand;
2. the Hugging Face hub cache (timm models) or the torch hub cache (torchvision
   detectors), read straight from disk, so a cached file never causes a network call;
3. nothing: :class:`WeightsMissing` (503, ``weights_missing``) saying how to provide
   them. A model with missing weights is never replaced by a random one.

Downloads go to a temporary name in the model's folder and are renamed into place, so
an interrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from core.errors import InvalidInput, ServiceUnavailable
from core.files import rename_into_place

from .registry import DetectionModelSpec, EmbeddingModelSpec, ModelSpec, random_weights_allowed

logger = logging.getLogger(__name__)

LOCAL_FILE_NAMES = ("model.safetensors", "model.pth", "pytorch_model.bin")
HF_FILE_NAMES = ("model.safetensors", "pytorch_model.bin")
HF_HOST = "huggingface.co"


class WeightsMissing(ServiceUnavailable):
    code = "weights_missing"


class RandomWeightsDisabled(ServiceUnavailable):
    code = "random_weights_disabled"


class DownloadFailed(ServiceUnavailable):
    code = "download_failed"


class WeightsIncompatible(ServiceUnavailable):
    code = "weights_incompatible"


@dataclass(frozen=True)
class WeightsStatus:
    present: bool
    source: str  # random | local | hub-cache | missing
    path: str | None
    expected_path: str

    def as_dict(self) -> dict:
        return asdict(self)


def model_dir(spec: ModelSpec) -> Path:
    return Path(settings.MODELS_DIR) / spec.name


def _local_file(spec: ModelSpec) -> Path | None:
    folder = model_dir(spec)
    for name in LOCAL_FILE_NAMES:
        path = folder / name
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None


def _torch_hub_dir() -> Path:
    # torch.hub.get_dir() without importing torch: the model zoo API must stay light.
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(torch_home).expanduser() / "hub"


def _hub_cached_file(spec: ModelSpec) -> Path | None:
    if isinstance(spec, EmbeddingModelSpec):
        if not spec.hf_hub_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        for filename in HF_FILE_NAMES:
            found = try_to_load_from_cache(spec.hf_hub_id, filename)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
        return None
    if isinstance(spec, DetectionModelSpec) and spec.weights_url:
        path = _torch_hub_dir() / "checkpoints" / os.path.basename(urlparse(spec.weights_url).path)
        return path if path.is_file() else None
    return None


def weights_status(spec: ModelSpec) -> WeightsStatus:
    """Whether the weights are on this machine, and where (no network access)."""
    expected = str(model_dir(spec) / ("model.safetensors" if isinstance(spec, EmbeddingModelSpec) else "model.pth"))
    if spec.random_weights:
        return WeightsStatus(present=True, source="random", path=None, expected_path=expected)
    if isinstance(spec, EmbeddingModelSpec) and not spec.needs_weights:
        return WeightsStatus(present=True, source="none", path=None, expected_path="")
    local = _local_file(spec)
    if local is not None:
        return WeightsStatus(present=True, source="local", path=str(local), expected_path=expected)
    cached = _hub_cached_file(spec)
    if cached is not None:
        return WeightsStatus(present=True, source="hub-cache", path=str(cached), expected_path=expected)
    return WeightsStatus(present=False, source="missing", path=None, expected_path=expected)


def check_usable(spec: ModelSpec) -> None:
    """Raise unless this entry may be used here (random weights need the setting)."""
    if spec.random_weights and not random_weights_allowed():
        raise RandomWeightsDisabled(
            f"Model {spec.name!r} has random weights and is for tests only; set VFRAME_ALLOW_RANDOM_WEIGHTS=1 to use it.",
        )


def resolve_weights(spec: ModelSpec) -> Path | None:
    """The weights file to load, or None for a random-weight entry; raises if missing."""
    check_usable(spec)
    status = weights_status(spec)
    if spec.random_weights or status.source == "none":
        return None
    if not status.present:
        raise WeightsMissing(
            f"No weights for model {spec.name!r} on this machine. Either copy the weights file to "
            f"{status.expected_path} (from {spec.weights_source}), or run "
            f"`python manage.py modelzoo_download {spec.name}` on a machine with internet access.",
            fields={"expected_path": status.expected_path, "weights_source": spec.weights_source},
        )
    return Path(status.path)


def _check_reachable(host: str, timeout: float) -> None:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            pass
    except OSError as exc:
        raise DownloadFailed(
            f"Cannot reach {host} ({exc}); this machine has no internet access. Download the weights elsewhere "
            f"and copy them into {settings.MODELS_DIR}/<name>/, or run this where there is internet."
        ) from None


def download_weights(spec: ModelSpec, *, force: bool = False, timeout: float = 10.0) -> Path:
    """Fetch ``spec``'s weights into ``MODELS_DIR/NAME/`` and return the file's path.

    Idempotent: a model whose file is already there is not downloaded again unless
    ``force``. Raises DownloadFailed (503) with the reason when it cannot.
    """
    if spec.random_weights:
        raise InvalidInput(f"Model {spec.name!r} has random weights; there is nothing to download.", code="nothing_to_download")
    if isinstance(spec, EmbeddingModelSpec) and not spec.needs_weights:
        raise InvalidInput(f"Model {spec.name!r} has no weights; there is nothing to download.", code="nothing_to_download")
    existing = _local_file(spec)
    if existing is not None and not force:
        return existing
    folder = model_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmpdir:
        if isinstance(spec, EmbeddingModelSpec):
            from huggingface_hub import constants as hf_constants

            if hf_constants.HF_HUB_OFFLINE:
                raise DownloadFailed("HF_HUB_OFFLINE is set, so nothing can be downloaded from the Hugging Face hub.")
            _check_reachable(HF_HOST, timeout)
            from huggingface_hub import hf_hub_download

            last_error: Exception | None = None
            for filename in HF_FILE_NAMES:
                try:
                    got = Path(hf_hub_download(spec.hf_hub_id, filename, local_dir=tmpdir))
                except Exception as exc:  # the hub raises many types; the next file name may exist
                    last_error = exc
                    continue
                final = folder / ("model.safetensors" if filename.endswith(".safetensors") else "model.pth")
                rename_into_place(got, final)
                return final
            raise DownloadFailed(f"Could not download {spec.hf_hub_id}: {last_error}")
        _check_reachable(urlparse(spec.weights_url).hostname or "", timeout)
        import torch.hub

        tmp = Path(tmpdir) / "model.pth"
        try:
            torch.hub.download_url_to_file(spec.weights_url, str(tmp), progress=False)
        except Exception as exc:
            raise DownloadFailed(f"Could not download {spec.weights_url}: {exc}") from None
        rename_into_place(tmp, folder / "model.pth")
        return folder / "model.pth"
