"""Where a model's weights are, and fetching them.

Lookup order for a model called NAME:

1. the entry's own ``weights.path`` when it names one (nowhere else is looked at then);
   else a local file ``settings.MODELS_DIR/NAME/model.safetensors`` (or ``model.pth`` /
   ``pytorch_model.bin`` / ``model.onnx``): what ``manage.py modelzoo_download NAME``
   writes, and where an operator on an offline machine copies a file by hand;
2. the installed pip package that ships the file (entries with ``package``), found
   through the package's metadata without importing it;
3. the Hugging Face hub cache (timm models) or the torch hub cache (torchvision
   detectors), read straight from disk, so a cached file never causes a network call;
4. nothing: :class:`WeightsMissing` (503, ``weights_missing``) saying how to provide
   them. A model with missing weights is never replaced by a random one.

An entry with a pinned ``sha256`` has whichever file was found checked against it
before loading (:class:`WeightsChecksumMismatch`, 503, otherwise); the check is done
once per process per file size and modification time.

Downloads go to a temporary name in the model's folder and are renamed into place, so
an interrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import socket
import sysconfig
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from core.errors import InvalidInput, ServiceUnavailable
from core.files import rename_into_place

from .registry import DEFAULT_PREFERENCE, MODELS, DetectionModelSpec, EmbeddingModelSpec, ModelSpec, random_weights_allowed

logger = logging.getLogger(__name__)

LOCAL_FILE_NAMES = ("model.safetensors", "model.pth", "pytorch_model.bin", "model.onnx")
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


class WeightsChecksumMismatch(ServiceUnavailable):
    code = "weights_checksum_mismatch"


@dataclass(frozen=True)
class WeightsStatus:
    present: bool
    source: str  # random | local | package | hub-cache | missing | none
    path: str | None
    expected_path: str

    def as_dict(self) -> dict:
        return asdict(self)


def model_dir(spec: ModelSpec) -> Path:
    return Path(settings.MODELS_DIR) / spec.name


def _is_onnx(spec: ModelSpec) -> bool:
    return getattr(spec, "runtime", "") == "onnx"


def _local_file(spec: ModelSpec) -> Path | None:
    if spec.weights_path:
        path = Path(spec.weights_path)
        return path if path.is_file() and path.stat().st_size > 0 else None
    folder = model_dir(spec)
    for name in LOCAL_FILE_NAMES:
        path = folder / name
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None


def _package_file(spec: ModelSpec) -> Path | None:
    """The weights file inside the installed package, if the package is installed."""
    if not spec.package:
        return None
    try:
        dist = importlib.metadata.distribution(spec.package_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(spec.package_file))
    return path if path.is_file() else None


def _package_expected_path(spec: ModelSpec) -> Path:
    """Where pip puts the package's file in this environment."""
    try:
        return Path(importlib.metadata.distribution(spec.package_name).locate_file(spec.package_file))
    except importlib.metadata.PackageNotFoundError:
        return Path(sysconfig.get_paths()["purelib"]) / spec.package_file


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
    if spec.package:
        expected = str(_package_expected_path(spec))
    elif spec.weights_path:
        expected = spec.weights_path
    elif _is_onnx(spec):
        expected = str(model_dir(spec) / "model.onnx")
    else:
        expected = str(model_dir(spec) / ("model.safetensors" if isinstance(spec, EmbeddingModelSpec) else "model.pth"))
    if spec.random_weights:
        return WeightsStatus(present=True, source="random", path=None, expected_path=expected)
    if isinstance(spec, EmbeddingModelSpec) and not spec.needs_weights:
        return WeightsStatus(present=True, source="none", path=None, expected_path="")
    local = _local_file(spec)
    if local is not None:
        return WeightsStatus(present=True, source="local", path=str(local), expected_path=expected)
    if spec.weights_path:
        return WeightsStatus(present=False, source="missing", path=None, expected_path=expected)
    packaged = _package_file(spec)
    if packaged is not None:
        return WeightsStatus(present=True, source="package", path=str(packaged), expected_path=expected)
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


_sha256_cache: dict[str, tuple[int, int, str]] = {}
_sha256_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The file's sha256 hex digest, hashed once per process for each (size, mtime)."""
    stat = path.stat()
    key = str(path)
    with _sha256_lock:
        known = _sha256_cache.get(key)
    if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
        return known[2]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    with _sha256_lock:
        _sha256_cache[key] = (stat.st_size, stat.st_mtime_ns, digest.hexdigest())
    return digest.hexdigest()


def _verify_sha256(spec: ModelSpec, path: Path) -> None:
    actual = file_sha256(path)
    if actual == spec.sha256:
        return
    expected_path = str(_package_expected_path(spec)) if spec.package else str(path)
    if not spec.package or path.is_relative_to(model_dir(spec)):
        fix = f"Remove or replace {path}"
        if spec.package:
            fix += f"; the pip package {spec.package!r} provides the right file at {expected_path}"
    else:
        fix = f"Reinstall the pip package {spec.package!r} with `{spec.pip_install(force=True)}` (its file belongs at {expected_path})"
    raise WeightsChecksumMismatch(
        f"The weights file {path} for model {spec.name!r} has sha256 {actual}, not the pinned {spec.sha256}: it is damaged or a different file. {fix}.",
        fields={"path": str(path), "expected_path": expected_path, "package": spec.package, "expected_sha256": spec.sha256, "sha256": actual},
    )


def _missing_message(spec: ModelSpec, status: WeightsStatus) -> str:
    if spec.weights_path:
        return f"No weights for model {spec.name!r} on this machine: its configuration ({spec.source_file}) names the file {spec.weights_path}, which is not there."
    if spec.package:
        return (
            f"No weights for model {spec.name!r} on this machine: they ship in the pip package {spec.package!r}, expected at "
            f"{status.expected_path}. Install it with `{spec.pip_install()}` (scripts/setup.sh does), "
            f"or copy the file to {model_dir(spec) / 'model.pth'}."
        )
    return (
        f"No weights for model {spec.name!r} on this machine. Either copy the weights file to "
        f"{status.expected_path} (from {spec.weights_source}), or run "
        f"`python manage.py modelzoo_download {spec.name}` on a machine with internet access."
    )


def resolve_weights(spec: ModelSpec) -> Path | None:
    """The weights file to load, or None for a random-weight entry.

    Raises WeightsMissing when there is none, WeightsChecksumMismatch when the entry pins
    a sha256 and the file found does not have it.
    """
    check_usable(spec)
    status = weights_status(spec)
    if spec.random_weights or status.source == "none":
        return None
    if not status.present:
        fields = {"expected_path": status.expected_path, "weights_source": spec.weights_source}
        if spec.package:
            fields["package"] = spec.package
        raise WeightsMissing(_missing_message(spec, status), fields=fields)
    path = Path(status.path)
    if spec.sha256:
        _verify_sha256(spec, path)
    return path


def checksum_state(spec: ModelSpec, status: WeightsStatus | None = None) -> str:
    """What is known of the weights file's integrity: ``verified`` (matches the pinned
    sha256), ``mismatch``, ``unpinned`` (present, nothing to check against), ``missing``
    or ``n/a`` (no file: random weights, a computed model). Hashes a pinned file once
    per process for each size and modification time."""
    status = status or weights_status(spec)
    if status.source in ("random", "none"):
        return "n/a"
    if not status.present:
        return "missing"
    if not spec.sha256:
        return "unpinned"
    try:
        return "verified" if file_sha256(Path(status.path)) == spec.sha256 else "mismatch"
    except OSError:
        return "missing"


def default_model_name() -> str:
    """The embedding model used when none is named: ``settings.DEFAULT_EMBEDDING_MODEL``
    if set, else the first entry of ``DEFAULT_PREFERENCE`` whose weights are here.

    With none present it is still the first pip-installed entry, so using it answers
    503 ``weights_missing`` naming the package, never a random-weight model.
    """
    configured = getattr(settings, "DEFAULT_EMBEDDING_MODEL", "") or ""
    if configured:
        return configured
    for name in DEFAULT_PREFERENCE:
        if weights_status(MODELS[name]).present:
            return name
    return next(name for name in DEFAULT_PREFERENCE if MODELS[name].package)


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
    if spec.weights_path:
        raise InvalidInput(
            f"Model {spec.name!r} is loaded from the file {spec.weights_path} named in {spec.source_file}: copy the file there.",
            code="nothing_to_download",
            fields={"expected_path": spec.weights_path},
        )
    if spec.package:
        packaged = _package_file(spec)
        if packaged is not None and not force:
            return packaged
        raise InvalidInput(
            f"Model {spec.name!r} has its weights in the pip package {spec.package!r}: install it with `{spec.pip_install(force=force)}`.",
            code="install_with_pip",
            fields={"package": spec.package, "expected_path": str(_package_expected_path(spec))},
        )
    existing = _local_file(spec)
    if existing is not None and not force:
        return existing
    folder = model_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmpdir:
        if isinstance(spec, EmbeddingModelSpec) and spec.hf_hub_id:
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

        file_name = "model.onnx" if _is_onnx(spec) else "model.pth"
        tmp = Path(tmpdir) / file_name
        try:
            torch.hub.download_url_to_file(spec.weights_url, str(tmp), progress=False)
        except Exception as exc:
            raise DownloadFailed(f"Could not download {spec.weights_url}: {exc}") from None
        if spec.sha256 and file_sha256(tmp) != spec.sha256:
            raise DownloadFailed(f"The file downloaded from {spec.weights_url} has sha256 {file_sha256(tmp)}, not the pinned {spec.sha256}; nothing was saved.")
        rename_into_place(tmp, folder / file_name)
        return folder / file_name
