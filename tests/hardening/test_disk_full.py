"""Disk full while writing an upload or an index, on a real 2 MiB tmpfs.

The test process runs as root (so does CI) and mounts a tmpfs for each test, unmounted
in a finalizer. A full disk must give a clear error (507 ``insufficient_storage`` for
a request; a failed build with the reason for an index), leave nothing half-written
(no orphan file, no row, no temporary file) and leave the previous index serving.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from media_app.models import Upload
from media_app.tests.api.test_upload import URL
from tests.images import image_upload
from tests.storage import stored_files

from .corpus import encode

DISK_BYTES = 2 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 2 MiB tmpfs of this test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)], check=True, capture_output=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(disk: Path, *, leave: int) -> Path:
    """Fill ``disk`` until about ``leave`` bytes are free; returns the filler file."""
    filler = disk / "filler"
    with open(filler, "ab") as fh:
        fh.write(b"\0" * max(0, free_bytes(disk) - leave))
    return filler


def noise_png(width: int = 256, height: int = 256, seed: int = 0) -> bytes:
    """An image that does not compress: some 200 kB, far more than the space left."""
    rng = np.random.default_rng(seed)
    from PIL import Image

    return encode(Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB"), "PNG")


def leftovers(root: Path) -> list[Path]:
    """Files of any kind under ``root``, temporary ones included."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- uploads --------------------------------------------------------------------------------------


@pytest.fixture
def storage_on_small_disk(settings, small_disk) -> Path:
    files = small_disk / "files"
    settings.FILES_ROOT = files
    settings.MEDIA_ROOT = files
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(files), "base_url": "/files/"}}}
    return files


@pytest.mark.parametrize("leave", [0, 48 * 1024], ids=["no-space", "space-for-part-of-the-file"])
def test_upload_on_a_full_disk_is_a_507_and_leaves_no_row_and_no_partial_file(api, small_disk, storage_on_small_disk, leave):
    data = noise_png()
    filler = fill(small_disk, leave=leave)

    res = api.post(URL, {"image": image_upload("evidence.png", data, "image/png")}, format="multipart")

    assert res.status_code == 507, res.content
    error = res.json()["error"]
    assert error["code"] == "insufficient_storage" and "space" in error["message"].lower()
    assert Upload.objects.count() == 0
    assert leftovers(storage_on_small_disk) == []  # not even a temporary file

    # Space freed: the same bytes are stored under their own name (no half-written
    # file squats on it and pushes the upload to a suffixed name).
    filler.unlink()
    res = api.post(URL, {"image": image_upload("evidence.png", data, "image/png")}, format="multipart")
    assert res.status_code == 201, res.content
    upload = Upload.objects.get()
    assert upload.file.name.endswith(f"/{upload.sha256}.png")
    assert (storage_on_small_disk / upload.file.name).read_bytes() == data
    assert {str(p) for p in stored_files(storage_on_small_disk)} == {upload.file.name, upload.thumbnail.name}


# --- indexes --------------------------------------------------------------------------------------


@pytest.fixture
def index_on_small_disk(settings, small_disk) -> Path:
    settings.INDEX_DIR = small_disk / "indexes"
    settings.MODELS_DIR = small_disk.parent / "models"
    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.LOADER_WORKERS = 0
    settings.INDEX_THREADS = 1
    return settings.INDEX_DIR


def _media(seeds) -> list:
    from media_app.services import media_create_image
    from tests.images import make_image_bytes

    return [media_create_image(stream=io.BytesIO(make_image_bytes(48, 36, seed=s)), original_name=f"{s}.jpg")[0] for s in seeds]


def _assert_previous_version_serves(feature, version: int, media_ids: list[int]) -> None:
    from search_app.indexing import engine
    from search_app.indexing.index import load_index

    feature.refresh_from_db()
    assert feature.index_version == version
    engine.clear()
    index = load_index(feature)
    ids, _ = index.search(index.get_vectors([media_ids[0]])[0], k=len(media_ids))
    assert sorted(ids.tolist()) == sorted(media_ids)


def _nothing_half_written(index_dir: Path, failed_version: int | None = None) -> None:
    """No temporary file anywhere, no file of the version whose build failed, and every
    vector shard readable."""
    from search_app.indexing.layout import VERSION_RE
    from search_app.indexing.vectors import SHARD_RE

    names = [p.name for p in index_dir.rglob("*") if p.is_file()]
    assert not [n for n in names if n.endswith(".tmp")], names
    if failed_version is not None:
        assert not [n for n in names if (m := VERSION_RE.match(n)) and int(m.group(1)) == failed_version], names
    for shard in index_dir.rglob("shard-*.npz"):
        assert SHARD_RE.match(shard.name)
        with np.load(shard) as npz:
            assert npz["ids"].shape[0] == npz["vectors"].shape[0]


@pytest.mark.parametrize("stage", ["storing-vectors", "writing-the-index-file"])
def test_index_build_on_a_full_disk_fails_with_the_reason_and_the_previous_version_keeps_serving(db, small_disk, index_on_small_disk, stage):
    from search_app.indexing.build import feature_update_index
    from search_app.indexing.layout import vector_store
    from search_app.models import Feature, FeatureStatus
    from search_app.services import feature_update

    first = _media(range(6))
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert (feature.index_version, feature.item_count) == (1, 6)
    if stage == "storing-vectors":
        # New media to embed: the shard of their vectors does not fit.
        everything = first + _media(range(100, 160))
    else:
        # New graph parameters: the index is rebuilt from the stored vectors (no shard
        # to write), and the new index file does not fit.
        everything = first
        feature = feature_update(feature=feature, index_params={"M": 32})
    filler = fill(small_disk, leave=0)

    with pytest.raises(OSError) as raised:
        feature_update_index(feature=feature)

    assert raised.value.errno == 28  # ENOSPC
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.FAILED
    assert "No space left on device" in feature.error
    _nothing_half_written(index_on_small_disk, failed_version=2)
    _assert_previous_version_serves(feature, 1, [m.pk for m in first])

    # Space freed: rerunning the build finishes it, with one vector per media.
    filler.unlink()
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert (feature.status, feature.index_version, feature.item_count) == (FeatureStatus.READY, 2, len(everything))
    ids = vector_store(feature.pk, 64).load()[0]
    assert ids.tolist() == sorted(m.pk for m in everything)
    _nothing_half_written(index_on_small_disk)
