"""Embedding while importing: vectors from the decode the import makes anyway.

Without this, an ingest decodes every image to validate it and make its thumbnail, and
``feature_update_index`` afterwards reads and decodes every file again to embed it. With
it, each import worker decodes an image once (``media_create_image``: a JPEG at the
smallest DCT scale that covers the thumbnail and the model input) and prepares the
model input from that decode (``Embedder.prepare``); one background thread per run
batches those inputs through the model while the workers decode the next files, and
hands the vectors to each feature's vector store (``feature_add_vectors``) every
``INDEX_SHARD_ITEMS`` vectors or ``INDEX_SHARD_SECONDS``, and at the end. The region
vectors of each picture (``modelzoo.regions``: its centre half and quarters) come from
the same decode and go the same way (``ingest_region_vectors_ready``). The index
build that follows then embeds only what is still missing (video frames, anything this
could not do).

The pooled features the vectors are made of go to ``ingest_pooled_ready`` with them
(the text app labels pictures from them through the model's classifier head, instead
of decoding each file again for a second full forward). Every media submitted for a
model reaches that hook once: with its features, or at :meth:`close` with None when
this pass could not make them, so whoever waits for them acts from the file instead.

The model loads on that thread while the first files are decoded; until it has loaded,
workers keep a copy of the (reduced) decoded image, within a pixel budget, for the
thread to prepare later.

Nothing here is needed for correctness: an image whose vector was not stored (no usable
model, a failure, Ctrl-C, a crash) is embedded from its file by the next build, as
before. Vectors are stored only for rows already committed.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from queue import Full, Queue
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connections
from PIL import Image

from .. import hooks

logger = logging.getLogger(__name__)

# Decoded images held for the model thread while the model is still loading, in pixels
# (a reduced 12 MP JPEG is ~0.2 MP; a PNG is held at full size).
LOADING_BUDGET_PIXELS = 48_000_000


def usable_embedding_models(features: Sequence[Any]) -> dict[str, list[Any]]:
    """Features grouped by model name, for the models this process may run now; the
    others are left to ``feature_update_index``, which reports why they cannot run."""
    from modelzoo.registry import EmbeddingModelSpec, get_model
    from modelzoo.weights import resolve_weights

    groups: dict[str, list[Any]] = {}
    for feature in features:
        try:
            spec = get_model(feature.modelzoo_name)
            if not isinstance(spec, EmbeddingModelSpec):
                continue
            resolve_weights(spec)  # allowed here, weights present (a file lookup)
        except Exception as exc:  # the build reports it with the proper error
            logger.info("feature %s: not embedding while importing (%s)", feature.pk, exc)
            continue
        groups.setdefault(spec.name, []).append(feature)
    return groups


class IngestEmbedding:
    """The background embedder of one ingest run (see the module docstring).

    ``flush_in_caller``: store vectors only from :meth:`close`, in the caller's thread
    (when other threads cannot see the caller's database rows: an open transaction, an
    in-memory SQLite database).
    """

    def __init__(self, features: Sequence[Any], *, stop: threading.Event, flush_in_caller: bool = False):
        from modelzoo.registry import get_embedding_model

        self.groups = usable_embedding_models(features)
        self.specs = {name: get_embedding_model(name) for name in self.groups}
        # Decode JPEGs no smaller than every model's resize (Embedder.prepare's own draft
        # target), so a vector made here equals one made from the file.
        self.min_side = max((spec.resize_size for spec in self.specs.values()), default=0)
        self.stop = stop
        self.flush_in_caller = flush_in_caller
        self.stored: Counter = Counter()  # feature pk -> vectors stored
        self.batch_size = int(settings.EMBED_BATCH_SIZE)
        self.shard_items = int(getattr(settings, "INDEX_SHARD_ITEMS", 4096))
        self.shard_seconds = float(getattr(settings, "INDEX_SHARD_SECONDS", 60))
        self._embedders: dict[str, Any] = {}
        self._ready = threading.Event()
        self._failed = False
        self._held_pixels = 0
        self._held_lock = threading.Condition()
        self._queue: Queue = Queue(maxsize=2 * self.batch_size)
        self._pending: dict[str, tuple[list[int], list[np.ndarray]]] = {name: ([], []) for name in self.groups}
        self._done: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {name: ([], []) for name in self.groups}
        # Region inputs and vectors: (media ids, region numbers, arrays or vectors).
        self._region_pending: dict[str, tuple[list[int], list[int], list[np.ndarray]]] = {name: ([], [], []) for name in self.groups}
        self._region_done: dict[str, tuple[list[int], list[int], list[np.ndarray]]] = {name: ([], [], []) for name in self.groups}
        # Media submitted per model whose pooled features have not reached
        # ingest_pooled_ready yet (added by workers, removed by the model thread).
        self._awaiting: dict[str, set[int]] = {name: set() for name in self.groups}
        self._awaiting_lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self._closing = False  # the model thread has taken close()'s end marker
        self._thread: threading.Thread | None = None
        if self.groups:
            # torch hides this warning of its own import inside warnings.catch_warnings(),
            # which is process-wide: the workers' image validation enters and leaves the
            # same context on other threads meanwhile and can restore the filters
            # without torch's. A filter installed before any of them starts is in every
            # state they save and restore.
            warnings.filterwarnings("ignore", message="Warning only once for all operators,  other operators may also be overridden\\.", category=UserWarning)
            self._thread = threading.Thread(target=self._run, name="ingest-embed", daemon=True)
            self._thread.start()

    @property
    def active(self) -> bool:
        return bool(self.groups) and not self._failed

    # --- import workers -----------------------------------------------------------------------

    def prepare(self, img: Image.Image) -> dict[str, Any]:
        """Model inputs from one decoded image, per model (called by an import worker
        while the image is open). While the models load: a copy of the image."""
        if not self.active:
            return {}
        if not self._ready.is_set():
            pixels = img.size[0] * img.size[1]
            with self._held_lock:
                while not self._ready.is_set() and self._held_pixels and self._held_pixels + pixels > LOADING_BUDGET_PIXELS:
                    self._held_lock.wait(0.5)
                    if self.stop.is_set():
                        return {}
                if not self._ready.is_set():
                    self._held_pixels += pixels * len(self.groups)  # released once per model
                    copy = img.copy()
                    return {name: copy for name in self.groups}
        if not self.active:
            return {}
        try:
            return {name: _prepare(embedder, img) for name, embedder in self._embedders.items()}
        except Exception:  # the build embeds it from the file instead
            logger.warning("could not prepare an image for embedding while importing", exc_info=True)
            return {}

    def submit(self, media_id: int, prepared: dict[str, Any]) -> frozenset[str]:
        """Queue a committed media's model inputs; waits while the model is behind.
        Returns the names of the models whose pooled features of it will reach
        ``ingest_pooled_ready`` (none when it was not queued)."""
        if not prepared:
            return frozenset()
        names = frozenset(prepared)
        with self._awaiting_lock:  # before the model thread can deliver it
            for name in names:
                self._awaiting[name].add(int(media_id))
        while self.active and not self.stop.is_set():
            try:
                self._queue.put((int(media_id), prepared), timeout=0.5)
                return names
            except Full:
                continue
        with self._awaiting_lock:
            for name in names:
                self._awaiting[name].discard(int(media_id))
        self.discard(prepared)
        return frozenset()

    def discard(self, prepared: dict[str, Any]) -> None:
        """Drop model inputs that will not be submitted (the row was not created)."""
        for value in prepared.values():
            self._release(value)

    def _release(self, value: Any) -> None:
        if isinstance(value, Image.Image):  # a held copy: give its pixels back
            with self._held_lock:
                self._held_pixels -= value.size[0] * value.size[1]
                self._held_lock.notify_all()

    def close(self) -> dict[int, int]:
        """Embed what is queued (unless stopped), store every vector made, and return
        the number stored per feature id."""
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.put(None, timeout=0.5)
                    break
                except Full:
                    continue
            self._thread.join()
        self._flush_all()
        if not self.stop.is_set():
            self._deliver_missed()
        return dict(self.stored)

    def _deliver_missed(self) -> None:
        """Tell ingest_pooled_ready about submitted media this pass made no pooled
        features of (a model without them, a failure): None, act from the files."""
        for name, missed in self._awaiting.items():
            if not missed:
                continue
            try:
                hooks.ingest_pooled_ready(modelzoo_name=name, media_ids=sorted(missed), pooled=None)
            except Exception:  # what depends on it can be redone over stored media
                logger.warning("could not hand over %d media this ingest did not run through %s", len(missed), name, exc_info=True)
            missed.clear()

    # --- the model thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if not self._load():
                self._drain()
                return
            while True:
                item = self._queue.get()
                if item is None:
                    self._closing = True
                    break
                if self.stop.is_set():
                    continue  # interrupted: what is left is the next build's work
                media_id, prepared = item
                for name, value in prepared.items():
                    self._add(name, media_id, value)
                if not self.flush_in_caller and time.monotonic() - self._flushed_at >= self.shard_seconds:
                    self._flush_all()
            if not self.stop.is_set():
                for name in self.groups:
                    self._forward(name)
            if not self.flush_in_caller:
                self._flush_all()
        except Exception:
            logger.exception("embedding while importing failed; the index build will embed what is missing")
            self._failed = True
            self._drain()
        finally:
            if not self.flush_in_caller:
                connections.close_all()  # this thread's connections only

    def _load(self) -> bool:
        from modelzoo.embedding import get_embedder

        try:
            for name in self.groups:
                self._embedders[name] = get_embedder(name)
            return True
        except Exception as exc:
            logger.warning("not embedding while importing: %s; the index build will", exc)
            self._failed = True
            return False
        finally:
            with self._held_lock:
                self._ready.set()
                self._held_lock.notify_all()

    def _drain(self) -> None:
        """Discard queued items until close()'s end marker (workers stop submitting
        once ``active`` is false)."""
        while not self._closing:
            if self._queue.get() is None:
                self._closing = True

    def _add(self, name: str, media_id: int, value: Any) -> None:
        embedder = self._embedders[name]
        if isinstance(value, Image.Image):  # held while the model loaded
            try:
                array, regions = _prepare(embedder, value)
            except Exception:
                logger.warning("could not prepare media %s for embedding while importing", media_id, exc_info=True)
                return
            finally:
                self._release(value)
        else:
            array, regions = value
        ids, arrays = self._pending[name]
        ids.append(media_id)
        arrays.append(array)
        region_ids, region_numbers, region_arrays = self._region_pending[name]
        for number, region in regions:
            region_ids.append(media_id)
            region_numbers.append(number)
            region_arrays.append(region)
        if len(arrays) >= embedder.batch_size:  # sized for its device (modelzoo.embedding)
            self._forward(name)

    def _forward(self, name: str) -> None:
        self._forward_regions(name)
        ids, arrays = self._pending[name]
        if not ids:
            return
        embedder = self._embedders[name]
        # Pooled features where the model has them: the vectors are made of them at flush.
        rows = embedder.forward_pooled(arrays) if embedder.has_pooled_features else embedder.forward(arrays)
        done_ids, done_rows = self._done[name]
        done_ids.append(np.asarray(ids, dtype=np.int64))
        done_rows.append(rows)
        self._pending[name] = ([], [])
        if not self.flush_in_caller and sum(a.size for a in done_ids) >= self.shard_items:
            self._flush(name)

    def _forward_regions(self, name: str) -> None:
        from modelzoo.regions import forward_regions

        region_ids, numbers, arrays = self._region_pending[name]
        if not region_ids:
            return
        vectors = forward_regions(self._embedders[name], arrays)
        done_ids, done_numbers, done_vectors = self._region_done[name]
        done_ids.extend(region_ids)
        done_numbers.extend(numbers)
        done_vectors.append(vectors)
        self._region_pending[name] = ([], [], [])

    def _flush_all(self) -> None:
        for name in self.groups:
            self._flush(name)
        self._flushed_at = time.monotonic()

    def _flush(self, name: str) -> None:
        from modelzoo.embedding import normalize_rows

        self._flush_regions(name)
        done_ids, done_rows = self._done[name]
        if not done_ids:
            return
        ids, rows = np.concatenate(done_ids), np.concatenate(done_rows)
        self._done[name] = ([], [])
        pooled = self._embedders[name].has_pooled_features
        vectors = normalize_rows(rows) if pooled else rows
        for feature in self.groups[name]:
            try:
                self.stored[feature.pk] += sum(hooks.ingest_vectors_ready(feature=feature, ids=ids, vectors=vectors, modelzoo_name=name))
            except Exception:  # the build embeds them from the files instead
                logger.warning("feature %s: could not store %d vectors made while importing", feature.pk, ids.size, exc_info=True)
        if not pooled:
            return  # close() hands these over without features
        media_ids = ids.tolist()
        try:
            hooks.ingest_pooled_ready(modelzoo_name=name, media_ids=media_ids, pooled=rows)
        except Exception:  # close() hands them over again, without features
            logger.warning("could not hand over the pooled features of %d media", len(media_ids), exc_info=True)
            return
        with self._awaiting_lock:
            self._awaiting[name].difference_update(media_ids)

    def _flush_regions(self, name: str) -> None:
        # Before the whole-picture vectors: a build that starts once those are stored
        # finds the regions of the same media stored too.
        region_ids, numbers, vectors = self._region_done[name]
        if not region_ids:
            return
        self._region_done[name] = ([], [], [])
        stacked = np.concatenate(vectors)
        for feature in self.groups[name]:
            try:
                hooks.ingest_region_vectors_ready(feature=feature, media_ids=region_ids, numbers=numbers, vectors=stacked, modelzoo_name=name)
            except Exception:  # the build embeds them from the files instead
                logger.warning("feature %s: could not store %d region vectors made while importing", feature.pk, len(region_ids), exc_info=True)


def _prepare(embedder: Any, img: Image.Image) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """The model input of the whole picture and of its regions, from one decode."""
    from modelzoo.regions import prepare_regions

    return embedder.prepare(img), prepare_regions(embedder, img)
