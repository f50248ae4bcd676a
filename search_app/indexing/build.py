"""Building a feature's index: embed what is missing, write the next index version.

Building (:func:`feature_update_index`) is incremental and restartable:

1. claim the build with a conditional UPDATE (one builder per feature; a claim whose
   heartbeat is older than ``INDEX_BUILD_STALE_SECONDS`` is taken over, and so, at
   once, is the claim of a build whose process died on this host: see
   :class:`_BuildLock`);
2. embed every image and video frame that has no stored vector yet, appending shards
   to the feature's vector store as it goes (a crash loses at most one shard's work);
   vectors the ingest already computed from its own decode
   (:func:`feature_add_vectors`) are not computed again;
3. write the next index version from the stored vectors through the feature's index
   backend (``indexing.backends``: index files renamed into place, or a Milvus
   collection), then raise ``Feature.index_version`` while still holding the claim;
4. go round again if someone asked for a build meanwhile, else mark the feature ready.

Tunables (Django settings, all optional): ``INDEX_SHARD_ITEMS`` (vectors per shard,
4096), ``INDEX_SHARD_SECONDS`` (longest time between shard writes, 60),
``INDEX_BUILD_STALE_SECONDS`` (900), ``INDEX_COMPACT_FRACTION`` (0.2),
``INDEX_THREADS`` (hnswlib threads, 0 = all cores).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import DomainError, InvalidInput
from core.progress import Reporter, as_reporter
from media_app.models import Media, MediaType
from modelzoo.registry import MODELS, EmbeddingModelSpec, get_model
from modelzoo.weights import check_usable
from search_app.indexing import regions, sharing
from search_app.indexing.backends import backend_for, forget_media, prune_after_publish
from search_app.indexing.layout import feature_dir, vector_store
from search_app.models import Feature, FeatureStatus
from tasks_app.queue import enqueue

logger = logging.getLogger(__name__)

EMBEDDABLE_TYPES = (MediaType.IMAGE, MediaType.VIDEO_FRAME)  # videos are searched through their frames


def _conf(name: str, default):
    return getattr(settings, name, default)


BUILD_TASK = "search_app.tasks.build_index"


class BuildLost(Exception):
    """The build's claim is gone: the feature was deleted, or a stale claim was taken over."""


# --- scheduling ----------------------------------------------------------------------------------------


def feature_schedule_build(*, feature: Feature, full: bool = False) -> None:
    """Start ``build_index`` after the current transaction commits.

    If a build of this feature is running, the new task's claim fails and asks the
    running build to go round once more, so nothing is lost and nothing runs twice.
    With the task queue unreachable (Redis down) the write that asked for the build
    stands: a running build is asked to go round instead, else the feature is marked
    failed with the reason, so nobody waits for a build that never starts.
    """
    pk = feature.pk
    transaction.on_commit(lambda: _start_build(pk, full))


def _start_build(pk: int, full: bool) -> None:
    from celery import current_app

    from tasks_app.broker import is_broker_error

    try:
        # By name: the Celery task module (search_app.tasks) sits above the build pipeline.
        enqueue(current_app.tasks[BUILD_TASK], pk, full=full)
    except Exception as exc:
        if not is_broker_error(exc):
            raise
        logger.warning("feature %s: could not start its index build", pk, exc_info=True)
        if not Feature.objects.filter(pk=pk, status=FeatureStatus.BUILDING).update(build_requested=True):
            Feature.objects.filter(pk=pk).update(
                status=FeatureStatus.FAILED,
                error=f"The index build could not be started: the task queue is unreachable ({type(exc).__name__}: {exc}). Run the build again once it is back.",
            )


def feature_forget_media(*, media_ids: Iterable[int]) -> None:
    """Remove deleted media from every feature's vectors and indexes.

    The ids go into each feature's deletion set at once (an index loaded from now on
    leaves them out) and a build is scheduled to mark them deleted in a new index
    version, so searchers holding the old version swap it out.
    """
    ids = np.unique(np.fromiter((int(i) for i in media_ids), dtype=np.int64))
    if ids.size == 0:
        return
    for feature in Feature.objects.only("pk", "modelzoo_name", "milvus_collection"):
        spec = MODELS.get(feature.modelzoo_name)
        store = vector_store(feature.pk, getattr(spec, "embedding_dim", 0))
        if not store.exists():
            continue
        # Recorded even for ids without a vector yet: a build embedding them right now
        # will have them dropped.
        store.add_deleted(ids)
        if np.intersect1d(ids, store.ids(), assume_unique=True).size:
            forget_media(feature, ids)  # an index served by an engine drops them now
            feature_schedule_build(feature=feature)


# --- search settings --------------------------------------------------------------------------------


def feature_add_vectors(*, feature: Feature, ids, vectors, modelzoo_name: str) -> int:
    """Store vectors computed outside a build, so the next build indexes these media
    without running the model again (the ingest embeds each image from the one decode
    it makes anyway; see media_app.ingest.embed).

    The vectors must be what a build would store: made by the feature's model (checked
    against ``modelzoo_name`` under the feature's row lock, so a model change cannot
    slip in between), float32 rows of its dimension, L2-normalised. An id that already
    has a vector keeps its first one. Returns how many were written: 0 when the feature
    is gone or uses another model now. Safe while a build of the feature runs.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0:
        return 0
    with transaction.atomic():
        current = Feature.objects.select_for_update().filter(pk=feature.pk).values_list("modelzoo_name", flat=True).first()
        if current != modelzoo_name:
            return 0
        spec = get_model(modelzoo_name)
        vector_store(feature.pk, spec.embedding_dim).append(ids, vectors)
    return int(ids.size)


# --- building ------------------------------------------------------------------------------------------


class _BuildLock:
    """The running build's hold on its claim, which the kernel drops when it dies.

    A heartbeat cannot tell a slow build from a dead one (kill -9, the OOM killer, a
    worker container stopped) until it is ``INDEX_BUILD_STALE_SECONDS`` old; until then
    every rerun would be told that a build is running, and none would be. So the
    builder also holds an ``flock`` on ``feature-<id>/.build.lock`` with its claim token
    written in it, for as long as it runs. A claim that finds that lock free while the
    database still names the token in the file knows that build's process is gone and
    takes its claim over at once. A build on another host (whose INDEX_DIR is its own)
    never wrote its token here, so only its heartbeat can time it out.
    """

    def __init__(self, pk: int):
        self.path = feature_dir(pk) / ".build.lock"
        self._fh = None

    def hold(self, token: str, attempts: int = 20) -> bool:
        """Lock and write ``token``; False when another live builder still holds the
        lock (one whose claim went stale and was taken over: it stops at its next
        heartbeat), and then this build is judged by its heartbeat alone."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+b")  # held open, and locked, for the whole build
        except OSError:
            logger.warning("cannot open %s", self.path, exc_info=True)
            return False
        for _ in range(attempts):  # another claimer's probe holds it for microseconds
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.05)
        else:
            fh.close()
            return False
        try:
            fh.truncate(0)
            fh.write(token.encode())
            fh.flush()
        except OSError:  # a full disk, say: the build itself will say what is wrong
            logger.warning("cannot write %s", self.path, exc_info=True)
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None

    def holder_died(self, token: str) -> bool:
        """True when the build that wrote ``token`` here no longer runs."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return False
        with fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # its builder is alive
            try:
                return fh.read().decode(errors="replace") == token
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _claim(pk: int) -> str | None:
    """Take the build of feature ``pk``: a token, or None when another build holds it."""
    token = uuid.uuid4().hex
    now = timezone.now()
    stale = now - timedelta(seconds=_conf("INDEX_BUILD_STALE_SECONDS", 900))
    claimed = (
        Feature.objects.filter(pk=pk)
        .filter(~Q(status=FeatureStatus.BUILDING) | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
        .update(status=FeatureStatus.BUILDING, build_token=token, heartbeat_at=now, build_requested=False, error="")
    )
    if claimed:
        return token
    held_by = Feature.objects.filter(pk=pk, status=FeatureStatus.BUILDING).values_list("build_token", flat=True).first()
    if held_by and _BuildLock(pk).holder_died(held_by):
        # Conditional on the dead build's token: of several claimers, one takes it over.
        if Feature.objects.filter(pk=pk, status=FeatureStatus.BUILDING, build_token=held_by).update(
            build_token=token, heartbeat_at=now, build_requested=False, error=""
        ):
            logger.warning("feature %s: the build holding the claim died with its process; taking it over", pk)
            return token
    return None


class _Heartbeat:
    """Proves the claim is still ours (and the feature still exists) every few seconds."""

    def __init__(self, pk: int, token: str, every: float = 10.0):
        self.pk, self.token, self.every = pk, token, every
        self._at = time.monotonic()

    def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._at < self.every:
            return
        self._at = now
        if not Feature.objects.filter(pk=self.pk, build_token=self.token).update(heartbeat_at=timezone.now()):
            raise BuildLost(f"feature {self.pk}: build claim lost")

    def check(self) -> None:
        self.beat(force=True)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted; run the build again to finish it."
    return f"{type(exc).__name__}: {exc}"[:4000]


def _media_sources(ids: np.ndarray, chunk: int = 2000) -> Iterator[tuple[int, Any]]:
    """(media id, path or opener) for these ids, read from the database chunk by chunk."""
    try:
        default_storage.path("x")
        local = True
    except NotImplementedError:
        local = False
    for start in range(0, ids.size, chunk):
        part = ids[start : start + chunk].tolist()
        rows = Media.objects.filter(pk__in=part).order_by("pk").values_list("pk", "file")
        for pk, name in rows:
            yield pk, (default_storage.path(name) if local else partial(default_storage.open, name, "rb"))


def _file_signatures(ids) -> dict[int, list | None]:
    """Size and modification time of each media's file, to tell a changed file from the
    one that failed; None where the storage is not local or the file is gone."""
    out: dict[int, list | None] = {}
    for pk, name in Media.objects.filter(pk__in=[int(i) for i in ids]).values_list("pk", "file"):
        try:
            st = os.stat(default_storage.path(name))
            out[pk] = [st.st_size, st.st_mtime_ns]
        except (NotImplementedError, OSError):
            out[pk] = None
    return out


def _still_failing(failed: dict[int, dict], todo: np.ndarray) -> dict[int, dict]:
    """The remembered failures to skip this time: media still without a vector whose
    file is as it was when its decode failed (a changed or replaced file is tried again;
    deleted media are forgotten)."""
    if not failed:
        return {}
    missing = set(todo.tolist())
    candidates = {pk: entry for pk, entry in failed.items() if pk in missing}
    if not candidates:
        return {}
    now = _file_signatures(candidates)
    return {pk: entry for pk, entry in candidates.items() if pk in now and now[pk] == entry.get("file")}


def _failure_records(skipped: list[tuple[int, str]]) -> dict[int, dict]:
    if not skipped:
        return {}
    signatures = _file_signatures(pk for pk, _ in skipped)
    at = timezone.now().isoformat()
    return {int(pk): {"reason": str(reason)[:500], "file": signatures.get(int(pk)), "at": at} for pk, reason in skipped}


def _embed_missing(
    *, feature: Feature, spec: EmbeddingModelSpec, store, todo: np.ndarray, heartbeat: _Heartbeat, reporter: Reporter
) -> tuple[int, list[tuple[int, str]]]:
    """Embed ``todo`` media into the store; returns (vectors written, skipped with reasons)."""
    from modelzoo.embedding import get_embedder

    if todo.size == 0:
        return 0, []
    embedder = get_embedder(spec.name)
    shard_items = int(_conf("INDEX_SHARD_ITEMS", 4096))
    shard_seconds = float(_conf("INDEX_SHARD_SECONDS", 60))
    total = int(todo.size)
    done = written = 0
    skipped: list[tuple[int, str]] = []
    ids_buf: list[np.ndarray] = []
    vec_buf: list[np.ndarray] = []
    buffered = 0
    flushed_at = time.monotonic()

    def flush() -> None:
        nonlocal buffered, flushed_at, written
        if buffered:
            store.append(np.concatenate(ids_buf), np.concatenate(vec_buf))
            written += buffered
            ids_buf.clear()
            vec_buf.clear()
            buffered = 0
        flushed_at = time.monotonic()

    reporter(0, total, "embedding")
    for batch in embedder.embed_files(_media_sources(todo)):
        for media_id, reason in batch.failed:
            logger.warning("feature %s: skipped media %s: %s", feature.pk, media_id, reason)
        skipped.extend(batch.failed)
        if batch.ids.size:
            ids_buf.append(batch.ids)
            vec_buf.append(batch.vectors)
            buffered += batch.ids.size
        done += batch.ids.size + len(batch.failed)
        if buffered >= shard_items or time.monotonic() - flushed_at >= shard_seconds:
            flush()
        reporter(done, total, "embedding")
        heartbeat.beat()
    flush()
    # Media rows that vanished between the id query and the file query count as done.
    return written, skipped


def _build_once(pk: int, token: str, reporter: Reporter, full: bool) -> dict:
    feature = Feature.objects.filter(pk=pk, build_token=token).first()
    if feature is None:
        raise BuildLost(f"feature {pk}: build claim lost")
    spec = get_model(feature.modelzoo_name)
    if not isinstance(spec, EmbeddingModelSpec):
        raise InvalidInput(f"Model {spec.name!r} is not an embedding model.")
    check_usable(spec)
    heartbeat = _Heartbeat(pk, token)
    store = vector_store(pk, spec.embedding_dim)
    store.remove_temp_files()
    # Vectors other hosts embedded (multi-host deployments): never embed them again.
    sharing.pull_vectors(pk, store)

    db_ids = np.fromiter(
        Media.objects.filter(media_type__in=EMBEDDABLE_TYPES).order_by().values_list("pk", flat=True).iterator(chunk_size=20000),
        dtype=np.int64,
    )
    db_ids.sort()
    stored = store.ids()
    deleted = store.deleted()
    # Media deleted without feature_forget_media reaching us (a crash between commit
    # and on_commit): the database is the truth.
    vanished = np.setdiff1d(np.setdiff1d(stored, deleted, assume_unique=True), db_ids, assume_unique=True)
    if vanished.size:
        store.add_deleted(vanished)
    todo = np.setdiff1d(db_ids, stored, assume_unique=True)
    # Media whose decode failed before are not decoded again at every build: only on a
    # full build, or when their file changed since.
    known_failed = _still_failing({} if full else store.failed(), todo)
    todo = np.setdiff1d(todo, np.fromiter(known_failed, dtype=np.int64, count=len(known_failed)), assume_unique=True)
    embedded, skipped = _embed_missing(feature=feature, spec=spec, store=store, todo=todo, heartbeat=heartbeat, reporter=reporter)
    store.set_failed({**known_failed, **_failure_records(skipped)})
    sharing.push_vectors(pk, store)
    embedded_regions = regions.build_embed(feature=feature, spec=spec, heartbeat=heartbeat.beat, reporter=reporter)

    heartbeat.check()
    current = Feature.objects.filter(pk=pk).values_list("index_version", flat=True).first()
    if current is None:
        raise BuildLost(f"feature {pk} was deleted")
    compact_fraction = float(_conf("INDEX_COMPACT_FRACTION", 0.2))
    meta = backend_for(feature.index_type).write_version(
        feature=feature,
        store=store,
        current_version=current,
        new_version=current + 1,
        full=full,
        reporter=reporter,
        heartbeat=heartbeat.check,
    )
    meta = regions.build_publish(feature=feature, spec=spec, meta=meta, current=current, full=full)
    fields: dict[str, Any] = {"skipped_count": len(skipped) + len(known_failed), "heartbeat_at": timezone.now()}
    if meta is not None:
        fields.update(index_version=current + 1, item_count=meta["count"], built_at=timezone.now(), **meta.get("row", {}))
    if not Feature.objects.filter(pk=pk, build_token=token).update(**fields):
        raise BuildLost(f"feature {pk}: build claim lost")
    if meta is not None:
        prune_after_publish(feature=feature, keep={current, current + 1})
        regions.build_after_publish(feature=feature, spec=spec, keep={current, current + 1}, compact_fraction=compact_fraction)
        stats = store.stats()
        if stats["stored"] and stats["deleted"] / stats["stored"] > compact_fraction:
            store.compact()
    return {
        "embedded": int(embedded),
        "embedded_regions": int(embedded_regions),
        "skipped": len(skipped),
        "failed_before": len(known_failed),
        "removed": int(meta["removed"]) if meta else 0,
        "version": current + 1 if meta else current,
        "count": int(meta["count"]) if meta else Feature.objects.filter(pk=pk).values_list("item_count", flat=True).first() or 0,
        "mode": meta["mode"] if meta else "unchanged",
    }


def feature_update_index(*, feature: Feature, reporter: Reporter | None = None, full: bool = False) -> dict:
    """Embed the media this feature lacks and write a new index version.

    Status goes pending → building → ready, or failed with the error text (the
    exception is re-raised; the previous index version stays usable). If another build
    of the feature is running, nothing runs here: that build is asked to go round once
    more, and ``{"claimed": False, ...}`` is returned. ``full`` rebuilds the index from
    the stored vectors instead of updating it (the model does not run again on what is
    stored) and tries again the files whose decode failed before.

    Returns counts: ``embedded``, ``skipped`` (undecodable files), ``failed_before``
    (files whose decode failed in an earlier build and that did not change: not tried
    again unless ``full``), ``removed`` (deleted media dropped), ``version``, ``count``
    (items in the index), ``mode``.
    """
    reporter = as_reporter(reporter)
    pk = feature.pk
    token = _claim(pk)
    if token is None:
        if not Feature.objects.filter(pk=pk).update(build_requested=True):
            raise BuildLost(f"feature {pk} does not exist")
        return {
            "feature_id": pk,
            "claimed": False,
            "status": FeatureStatus.BUILDING.value,
            "message": "Another build of this feature is running; it will include these media.",
        }
    totals: dict[str, Any] = {"feature_id": pk, "claimed": True, "embedded": 0, "skipped": 0, "removed": 0, "rounds": 0}
    lock = _BuildLock(pk)
    try:
        if not lock.hold(token):
            logger.info("feature %s: no build lock; this build is judged by its heartbeat alone", pk)
        while True:
            result = _build_once(pk, token, reporter, full)
            full = False
            totals["rounds"] += 1
            for key in ("embedded", "skipped", "removed"):
                totals[key] += result[key]
            totals.update(version=result["version"], count=result["count"], mode=result["mode"], failed_before=result["failed_before"])
            if Feature.objects.filter(pk=pk, build_token=token, build_requested=False).update(
                status=FeatureStatus.READY, error="", build_token="", heartbeat_at=None
            ):
                break
            # Asked for another build while this one ran: clear the request and go again.
            if not Feature.objects.filter(pk=pk, build_token=token).update(build_requested=False):
                raise BuildLost(f"feature {pk}: build claim lost")
    except BuildLost as exc:
        logger.warning("%s; stopping", exc)
        if not Feature.objects.filter(pk=pk).exists():
            shutil.rmtree(feature_dir(pk), ignore_errors=True)
        totals["status"] = "lost"
        return totals
    except BaseException as exc:
        logger.exception("building the index of feature %s failed", pk)
        Feature.objects.filter(pk=pk, build_token=token).update(
            status=FeatureStatus.FAILED, error=_error_text(exc), build_token="", heartbeat_at=None, build_requested=False
        )
        raise
    finally:
        lock.release()
    totals["status"] = FeatureStatus.READY.value
    feature.refresh_from_db()
    return totals
