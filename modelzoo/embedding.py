"""Image embeddings: decode, preprocess and run a model-zoo model, batched.

One :class:`Embedder` per model per process (:func:`get_embedder` caches them), so a
web process that embeds an upload, a worker building an index and a benchmark all go
through the same code. What makes it fast on a CPU:

- JPEGs are decoded at reduced scale (Pillow's draft mode: the DCT scales 1/2, 1/4,
  1/8) to the smallest size that still covers the model input, so a 12 MP photo is
  decoded at about 0.2 MP;
- resize and centre crop are one resampling call (``Image.resize(box=...)``);
- decoding runs in a thread pool (``settings.LOADER_WORKERS``) a couple of batches
  ahead of the model, so the forward pass never waits on disk or on Pillow;
- the batch goes in as a channels-last tensor (an NHWC uint8 array viewed as NCHW is
  already channels-last, no copy), under ``torch.inference_mode``, optionally with
  bfloat16 autocast (``settings.EMBED_DTYPE``) where the CPU has native bf16.

Vectors are the model's pooled pre-logits features (``num_classes=0``), L2-normalised,
float32, so cosine similarity is a dot product.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings
from PIL import Image

from core.errors import InvalidInput, ServiceUnavailable
from core.images import to_rgb

from .registry import EmbeddingModelSpec, get_embedding_model
from .rng import BUILD_LOCK, seeded
from .weights import WeightsIncompatible, default_model_name, resolve_weights

logger = logging.getLogger(__name__)

# What embed_files accepts as the source of one image.
ImageSource = str | Path | bytes | Image.Image | Callable[[], IO[bytes]]


@dataclass
class EmbeddedBatch:
    """One batch out of :meth:`Embedder.embed_files`: vectors for ``ids`` (same order)
    and the items of this stretch of input that could not be decoded, with the reason."""

    ids: np.ndarray  # int64, shape (n,)
    vectors: np.ndarray  # float32, shape (n, dim), rows L2-normalised
    failed: list[tuple[int, str]] = field(default_factory=list)

    def __iter__(self):
        """Unpacks as ``ids, vectors``."""
        return iter((self.ids, self.vectors))


def bf16_supported() -> bool:
    """Native bfloat16 on this CPU (AVX512-BF16 or AMX); emulated bf16 is slower than fp32."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except Exception:  # private helpers; absent on some builds or architectures
        return False


def build_model(spec: EmbeddingModelSpec, weights: Path | None, *, keep_classifier: bool = False):
    """Create the timm model with ``num_classes=0`` (pooled features), in eval mode.

    ``weights`` is a local file (timm resamples position embeddings and drops the
    classifier as needed); ``None`` is only valid for a random-weight entry, which is
    initialised from its fixed seed without touching the global RNG state (modelzoo.rng). A
    ``by-order`` checkpoint is copied tensor by tensor (modelzoo.checkpoints).
    ``keep_classifier`` keeps the pretrained head, so the model answers class logits
    (checking that weights classify real photos).
    """
    import timm

    if weights is None:
        if not spec.random_weights:
            raise ValueError(f"model {spec.name} needs weights")
        with seeded(spec.seed):
            return timm.create_model(spec.architecture, pretrained=False, num_classes=0, **spec.model_kwargs).eval()
    with BUILD_LOCK:
        return _load_weights(spec, weights, keep_classifier=keep_classifier).eval()


def _load_weights(spec: EmbeddingModelSpec, weights: Path, *, keep_classifier: bool):
    import timm
    from timm.models import get_pretrained_cfg

    # Keep the pretrained classifier's size while loading: timm loads non-strictly
    # when num_classes differs, which would let a wrong file through half random.
    # Strict load first, then drop the classifier.
    cfg = get_pretrained_cfg(spec.architecture)
    head = int(getattr(cfg, "num_classes", 0) or 0)
    if spec.checkpoint_layout == "by-order":
        from .checkpoints import load_state_dict_by_order, read_state_dict

        model = timm.create_model(spec.architecture, pretrained=False, num_classes=head, **spec.model_kwargs)
        load_state_dict_by_order(model, read_state_dict(weights), source=f"The weights file {weights} for {spec.architecture}")
    else:
        try:
            model = timm.create_model(spec.architecture, pretrained=True, num_classes=head, pretrained_cfg_overlay={"file": str(weights)}, **spec.model_kwargs)
        except (RuntimeError, KeyError, ValueError, OSError) as exc:
            raise WeightsIncompatible(f"The weights file {weights} could not be loaded into {spec.architecture}: {exc}"[:2000]) from None
    if head and not keep_classifier:
        model.reset_classifier(0)
    return model


class Embedder:
    """Embeds images with one model; thread-safe for concurrent callers."""

    def __init__(
        self,
        spec: EmbeddingModelSpec,
        model,
        *,
        dtype: str = "float32",
        batch_size: int = 32,
        loader_workers: int = 2,
        device: str = "cpu",
    ):
        import torch

        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, not {dtype!r}")
        self.spec = spec
        self.device = torch.device(device)
        if dtype == "bfloat16" and self.device.type == "cpu" and not bf16_supported():
            logger.warning("EMBED_DTYPE=bfloat16 but this CPU has no native bf16; using float32 (emulated bf16 is slower)")
            dtype = "float32"
        self.dtype = dtype
        self.batch_size = max(1, int(batch_size))
        self.loader_workers = max(0, int(loader_workers))
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.dim = spec.embedding_dim
        self.input_size = spec.input_size
        self._resample = Image.Resampling.BICUBIC if spec.interpolation == "bicubic" else Image.Resampling.BILINEAR
        # Normalisation folded into one multiply-add on 0..255 values.
        mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self._mean = mean.to(self.device)
        self._inv_std = (1.0 / std).to(self.device)

    # --- preprocessing (runs in loader threads) -------------------------------------------

    def prepare(self, img: Image.Image) -> np.ndarray:
        """Upright RGB, resize + centre crop to the model input: an HxWx3 uint8 array."""
        spec = self.spec
        w, h = img.size
        if img.format == "JPEG" and getattr(img, "tile", None) and min(w, h) > spec.resize_size:
            # Smallest DCT scale whose shorter side still covers the resize target.
            scale = spec.resize_size / min(w, h)
            img.draft(img.mode, (math.ceil(w * scale), math.ceil(h * scale)))
        img = to_rgb(img)
        w, h = img.size
        side = min(w, h) * spec.crop_pct
        left, top = (w - side) / 2.0, (h - side) / 2.0
        size = (self.input_size, self.input_size)
        out = img.resize(size, self._resample, box=(left, top, left + side, top + side), reducing_gap=3.0)
        return np.asarray(out, dtype=np.uint8)

    def load(self, source: ImageSource) -> np.ndarray:
        """Open and prepare one image from a path, bytes, a PIL image or an opener."""
        if isinstance(source, Image.Image):
            return self.prepare(source)
        if isinstance(source, bytes):
            import io

            with Image.open(io.BytesIO(source)) as img:
                return self.prepare(img)
        if isinstance(source, str | Path):
            with Image.open(source) as img:
                return self.prepare(img)
        with source() as fh, Image.open(fh) as img:
            return self.prepare(img)

    def _try_load(self, source: ImageSource) -> np.ndarray | Exception:
        try:
            return self.load(source)
        except Exception as exc:  # any decode failure skips this item, never the batch
            return exc

    # --- forward --------------------------------------------------------------------------

    # Whether forward_pooled answers the features before normalisation (what a
    # classifier head of the same weights takes: modelzoo.labels).
    has_pooled_features = True

    def forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Run prepared HxWx3 uint8 arrays through the model; L2-normalised float32 rows."""
        return self.forward_tensor(self._input(arrays))

    def forward_pooled(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """The model's pooled features of prepared arrays, not normalised (float32
        rows): ``normalize_rows`` of them is exactly what ``forward`` answers."""
        return self._pooled(self._input(arrays))

    def _input(self, arrays: Sequence[np.ndarray]):
        import torch

        batch = torch.from_numpy(np.stack(arrays)).to(self.device, non_blocking=True)
        # NHWC viewed as NCHW is a channels-last tensor; .float() keeps that layout.
        return batch.permute(0, 3, 1, 2).float().sub_(self._mean).mul_(self._inv_std)

    def forward_tensor(self, x) -> np.ndarray:
        """Forward an already normalised NCHW float batch (also what the benchmark's raw
        baseline measures against)."""
        return normalize_rows(self._pooled(x))

    def _pooled(self, x) -> np.ndarray:
        import torch

        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"):
            out = self.model(x)
        return out.float().cpu().numpy()

    # --- public API -------------------------------------------------------------------------

    def embed_images(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Embed images (PIL images, paths, bytes or openers); raises on an undecodable one."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for batch in self.embed_files(enumerate(images)):
            if batch.failed:
                index, reason = batch.failed[0]
                raise InvalidInput(f"Image {index} could not be decoded: {reason}", code="corrupt_image")
            out.append(batch.vectors)
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def embed_image(self, image: ImageSource) -> np.ndarray:
        """One image's vector, shape (dim,)."""
        return self.embed_images([image])[0]

    def embed_files(self, items: Iterable[tuple[int, ImageSource]], *, on_error: Callable[[int, str], Any] | None = None) -> Iterator[EmbeddedBatch]:
        """Embed ``(id, source)`` pairs in batches of ``batch_size``.

        Decoding runs ahead in the loader threads while the model works. Items that
        fail to decode are skipped, reported in the batch's ``failed`` list and to
        ``on_error(id, reason)``; they never stop the run.
        """
        ids: list[int] = []
        arrays: list[np.ndarray] = []
        failed: list[tuple[int, str]] = []
        for item_id, result in self._decoded(items):
            if isinstance(result, Exception):
                reason = f"{type(result).__name__}: {result}"
                failed.append((item_id, reason))
                if on_error is not None:
                    on_error(item_id, reason)
                continue
            ids.append(item_id)
            arrays.append(result)
            if len(arrays) >= self.batch_size:
                yield EmbeddedBatch(np.asarray(ids, dtype=np.int64), self.forward(arrays), failed)
                ids, arrays, failed = [], [], []
        if arrays or failed:
            vectors = self.forward(arrays) if arrays else np.zeros((0, self.dim), dtype=np.float32)
            yield EmbeddedBatch(np.asarray(ids, dtype=np.int64), vectors, failed)

    def _decoded(self, items: Iterable[tuple[int, ImageSource]]) -> Iterator[tuple[int, np.ndarray | Exception]]:
        """Decoded items in input order, with up to two batches decoding ahead."""
        if self.loader_workers == 0:
            for item_id, source in items:
                yield item_id, self._try_load(source)
            return
        pool = ThreadPoolExecutor(self.loader_workers, thread_name_prefix="embed-load")
        window: deque[tuple[int, Future]] = deque()
        iterator = iter(items)
        depth = 2 * self.batch_size
        try:
            for item_id, source in iterator:
                window.append((item_id, pool.submit(self._try_load, source)))
                if len(window) >= depth:
                    break
            while window:
                item_id, future = window.popleft()
                for next_id, next_source in iterator:
                    window.append((next_id, pool.submit(self._try_load, next_source)))
                    break
                yield item_id, future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def normalize_rows(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), np.float32(1e-12))


class PerceptualHashEmbedder(Embedder):
    """The ``phash`` backend: same batching, threads and error handling as the timm
    Embedder (inherited ``embed_files``/``embed_images``), with ``prepare`` and
    ``forward`` computing a DCT perceptual hash in numpy instead of a network forward."""

    def __init__(self, spec: EmbeddingModelSpec, *, batch_size: int = 256, loader_workers: int = 2, **_ignored):
        # No torch: nothing here needs the parent's model, device or normalisation.
        self.spec = spec
        self.model = None
        self.dtype = "float32"
        self.device = None
        self.batch_size = max(1, int(batch_size))
        self.loader_workers = max(0, int(loader_workers))
        self.dim = spec.embedding_dim
        self.input_size = spec.input_size
        self._side = math.isqrt(spec.embedding_dim)
        if self._side * self._side != spec.embedding_dim:
            raise ValueError(f"phash embedding_dim must be a square, not {spec.embedding_dim}")

    def prepare(self, img: Image.Image) -> np.ndarray:
        from .phash import phash_prepare

        return phash_prepare(img, self.input_size)

    def forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        from .phash import phash_vectors

        if not len(arrays):
            return np.zeros((0, self.dim), dtype=np.float32)
        return phash_vectors(np.stack(arrays), self._side)

    has_pooled_features = False

    def forward_pooled(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        raise TypeError("the phash backend has no pooled features")

    def forward_tensor(self, x) -> np.ndarray:
        raise TypeError("the phash backend has no tensor forward")


def _timm_embedder(spec: EmbeddingModelSpec, weights: Path | None, **options) -> Embedder:
    _configure_threads()
    return Embedder(spec, build_model(spec, weights), **options)


def _phash_embedder(spec: EmbeddingModelSpec, weights: Path | None, **options) -> Embedder:
    return PerceptualHashEmbedder(spec, **options)


class OnnxEmbedder(Embedder):
    """The ``onnx`` backend: the shared batching, loader threads and per-item decode
    errors, with an ONNX Runtime session (``modelzoo.onnx_runtime.OnnxModel``, its
    inputs and outputs checked against the entry) for the forward."""

    def __init__(self, spec: EmbeddingModelSpec, model, *, batch_size: int = 32, loader_workers: int = 2, **_ignored):
        self.spec = spec
        self.model = model
        self.dtype = "float32"
        self.device = None
        self.batch_size = max(1, int(batch_size))
        self.loader_workers = max(0, int(loader_workers))
        self.dim = spec.embedding_dim
        self.input_size = spec.input_size
        self._resample = Image.Resampling.BICUBIC if spec.interpolation == "bicubic" else Image.Resampling.BILINEAR

    def prepare(self, img: Image.Image) -> np.ndarray:
        if self.spec.resize == "crop":
            return super().prepare(img)
        from .onnx_runtime import prepare_square

        return prepare_square(img, self.spec)[0]

    def forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        if not len(arrays):
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize_rows(self.model.run(arrays).reshape(len(arrays), -1))

    # An exported graph answers what it was exported with, not known to be pre-logits.
    has_pooled_features = False

    def forward_pooled(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        raise TypeError("the onnx backend has no pooled features")

    def forward_tensor(self, x) -> np.ndarray:
        raise TypeError("the onnx backend has no tensor forward")


def _onnx_embedder(spec: EmbeddingModelSpec, weights: Path | None, **options) -> Embedder:
    from .onnx_runtime import onnx_session

    return OnnxEmbedder(spec, onnx_session(spec, weights), **options)


# The one place that branches on EmbeddingModelSpec.backend.
EMBEDDER_FACTORIES: dict[str, Callable[..., Embedder]] = {"timm": _timm_embedder, "phash": _phash_embedder, "onnx": _onnx_embedder}


_cache: dict[tuple[str, str, str], Embedder] = {}
_cache_lock = threading.Lock()
_threads_set = False


def _configure_threads() -> None:
    global _threads_set
    if _threads_set:
        return
    import torch

    threads = int(getattr(settings, "EMBED_THREADS", 0) or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    _threads_set = True


class DeviceUnavailable(ServiceUnavailable):
    code = "device_unavailable"


def embedding_device() -> str:
    """Where embeddings run, from ``settings.DEVICE`` (``VFRAME_DEVICE``): ``cpu``;
    ``cuda``, refused with a 503 when torch sees no CUDA device; ``auto`` (the default),
    CUDA when torch sees one, else the CPU."""
    choice = getattr(settings, "DEVICE", "auto")
    if choice == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        raise DeviceUnavailable(
            f"VFRAME_DEVICE=cuda, but torch {torch.__version__} sees no CUDA device (CUDA build: {torch.version.cuda or 'none'}): "
            "set VFRAME_DEVICE=auto or cpu, or run on a machine with a GPU and a CUDA build of torch."
        )
    return "cpu"


def _sizes_for(device: str) -> tuple[int, int]:
    """(batch size, decode threads) for embedding on ``device``: a GPU wants large batches
    and decoders on every core to keep it fed; a CPU shares its cores with the decoders."""
    if device == "cuda":
        return settings.EMBED_BATCH_SIZE_CUDA, settings.LOADER_WORKERS_CUDA or max(2, len(os.sched_getaffinity(0)))
    return settings.EMBED_BATCH_SIZE, settings.LOADER_WORKERS


def get_embedder(name: str | None = None, *, dtype: str | None = None) -> Embedder:
    """The process-wide Embedder for model ``name`` (default: the default model).

    Checks on every call that the model may be used and its weights exist (so a
    random-weight entry is refused as soon as the setting is off), then returns the
    cached instance or loads it once.
    """
    spec = get_embedding_model(name or default_model_name())
    weights = resolve_weights(spec)
    dtype = dtype or settings.EMBED_DTYPE
    device = embedding_device() if spec.backend == "timm" else "cpu"  # only torch models run on a device
    key = (spec.name, dtype, device)
    embedder = _cache.get(key)
    if embedder is not None:
        return embedder
    with _cache_lock:
        embedder = _cache.get(key)
        if embedder is None:
            logger.info("loading embedding model %s (%s, %s) from %s", spec.name, dtype, device, weights or spec.weights_source)
            batch_size, loader_workers = _sizes_for(device)
            embedder = EMBEDDER_FACTORIES[spec.backend](
                spec,
                weights,
                dtype=dtype,
                batch_size=batch_size,
                loader_workers=loader_workers,
                device=device,
            )
            _cache[key] = embedder
    return embedder


def embedder_loaded(name: str | None = None, *, dtype: str | None = None) -> bool:
    """Whether this process has model ``name`` in memory already (no load, no checks):
    the first query with a model that is not waits for it to load."""
    spec_name = name or default_model_name()
    dtype = dtype or settings.EMBED_DTYPE
    # On whichever device: asking which one would import torch.
    return any(key[:2] == (spec_name, dtype) for key in list(_cache))


def clear_embedder_cache() -> None:
    """Forget loaded models (tests; after replacing a weights file)."""
    with _cache_lock:
        _cache.clear()
