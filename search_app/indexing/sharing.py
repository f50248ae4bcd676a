"""Indexes and vectors shared through the media storage, for several hosts.

Each host keeps its working copy of a feature's files under its own
``settings.INDEX_DIR`` (hnswlib needs local files). With ``settings.SHARE_INDEXES``
on (the default when media live on S3), those files also travel through the default
storage (django-storages), so web and worker hosts need nothing in common but
PostgreSQL, Redis and the storage:

* a build first pulls the vector shards other hosts pushed (so it never re-embeds
  what another worker embedded), then pushes the shards it wrote, and pushes each
  new index version after it is renamed into place locally;
* a searcher that lacks an index version locally pulls it before loading it.

Storage layout: ``indexes/feature-<id>/index-v<n>.{bin|npy,ids.npy,json}`` and
``indexes/feature-<id>/vectors/<sha256 of the shard>.npz``. Shards are named by their
content, so two hosts never overwrite each other's; a local ``.shared.json`` lists
which storage shards this host already holds. Pulls write to temporary names and
rename, the metadata file last, so a half-pulled version is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from core.files import atomic_write
from search_app.indexing.layout import VERSION_RE, feature_dir, version_paths
from search_app.indexing.vectors import VectorStore

logger = logging.getLogger(__name__)


def enabled() -> bool:
    return bool(getattr(settings, "SHARE_INDEXES", False))


def _remote_dir(feature_id: int) -> str:
    return f"indexes/feature-{int(feature_id)}"


def _put(local: Path, name: str) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(local, "rb") as fh:
        saved = default_storage.save(name, File(fh))
    if saved != name:  # a concurrent writer of the same name: same content, keep one
        default_storage.delete(saved)


def _get(name: str, local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)

    def write(fh):
        with default_storage.open(name, "rb") as src:
            while chunk := src.read(1024 * 1024):
                fh.write(chunk)

    atomic_write(local, write)


# --- index versions ----------------------------------------------------------------------------


def push_version(feature_id: int, version: int, index_type: str) -> None:
    """Publish a locally written index version (metadata last: readers look for it)."""
    if not enabled():
        return
    paths = version_paths(feature_dir(feature_id), version, index_type)
    for key in ("data", "ids", "meta"):
        _put(paths[key], f"{_remote_dir(feature_id)}/{paths[key].name}")


def pull_version(feature_id: int, version: int) -> bool:
    """Fetch index version ``version`` into the local index dir unless already there.
    Returns whether the version is now available locally."""
    directory = feature_dir(feature_id)
    meta_path = directory / f"index-v{version}.json"
    if meta_path.exists():
        return True
    if not enabled():
        return False
    remote_meta = f"{_remote_dir(feature_id)}/{meta_path.name}"
    if not default_storage.exists(remote_meta):
        return False
    with default_storage.open(remote_meta, "rb") as fh:
        meta = json.loads(fh.read())
    paths = version_paths(directory, version, meta["index_type"])
    for key in ("data", "ids"):
        _get(f"{_remote_dir(feature_id)}/{paths[key].name}", paths[key])
    _get(remote_meta, meta_path)  # last: its presence means the version is complete
    logger.info("feature %s: pulled index version %s from storage", feature_id, version)
    return True


def prune_versions(feature_id: int, keep: set[int]) -> None:
    """Delete published index versions other than ``keep``."""
    if not enabled():
        return
    remote = _remote_dir(feature_id)
    try:
        _, files = default_storage.listdir(remote)
    except FileNotFoundError:
        return
    for name in files:
        match = VERSION_RE.match(name)
        if match and int(match.group(1)) not in keep:
            default_storage.delete(f"{remote}/{name}")


# --- vectors -----------------------------------------------------------------------------------


def _ledger_path(store: VectorStore) -> Path:
    return store.root / ".shared.json"


def _read_ledger(store: VectorStore) -> dict:
    try:
        return json.loads(_ledger_path(store).read_text())
    except FileNotFoundError:
        return {"pushed": {}, "pulled": []}


def _write_ledger(store: VectorStore, ledger: dict) -> None:
    store.root.mkdir(parents=True, exist_ok=True)
    atomic_write(_ledger_path(store), lambda fh: fh.write(json.dumps(ledger, sort_keys=True).encode()))


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def push_vectors(feature_id: int, store: VectorStore) -> int:
    """Publish the local shards not yet in storage; returns how many were pushed."""
    if not enabled():
        return 0
    ledger = _read_ledger(store)
    pushed = 0
    for shard in store.shard_paths():
        if shard.name in ledger["pushed"]:
            continue
        digest = _digest(shard)
        name = f"{_remote_dir(feature_id)}/vectors/{digest}.npz"
        if not default_storage.exists(name):
            _put(shard, name)
            pushed += 1
        ledger["pushed"][shard.name] = digest
        ledger["pulled"] = sorted(set(ledger["pulled"]) | {digest})
    _write_ledger(store, ledger)
    return pushed


def pull_vectors(feature_id: int, store: VectorStore) -> int:
    """Append the shards other hosts published that this host lacks; returns how many.
    Ids already held locally are harmless: loading keeps one vector per id."""
    if not enabled():
        return 0
    remote = f"{_remote_dir(feature_id)}/vectors"
    try:
        _, files = default_storage.listdir(remote)
    except FileNotFoundError:
        return 0
    ledger = _read_ledger(store)
    have = set(ledger["pulled"]) | set(ledger["pushed"].values())
    pulled = 0
    for name in sorted(files):
        digest = name.removesuffix(".npz")
        if not name.endswith(".npz") or digest in have:
            continue
        with default_storage.open(f"{remote}/{name}", "rb") as fh:
            data = np.load(fh)
            ids, vectors = data["ids"], data["vectors"]
        local = store.append(ids, vectors)
        if local is not None:
            ledger["pushed"][local.name] = digest  # already in storage under its digest
        ledger["pulled"] = sorted(set(ledger["pulled"]) | {digest})
        pulled += 1
    if pulled:
        _write_ledger(store, ledger)
        logger.info("feature %s: pulled %s vector shards from storage", feature_id, pulled)
    return pulled


def delete_feature(feature_id: int) -> None:
    """Remove everything a feature published."""
    if not enabled():
        return
    remote = _remote_dir(feature_id)
    for sub in (remote, f"{remote}/vectors"):
        try:
            _, files = default_storage.listdir(sub)
        except FileNotFoundError:
            continue
        for name in files:
            default_storage.delete(f"{sub}/{name}")
    if hasattr(default_storage, "path"):
        for sub in (f"{remote}/vectors", remote):
            try:
                os.rmdir(default_storage.path(sub))
            except (OSError, NotImplementedError):
                pass
