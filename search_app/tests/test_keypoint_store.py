"""Keypoints of stored pictures kept in the storage (search_app.query.keypoint_store):
found once from the picture, read back instead of it, made again when made with other
parameters or cut short, and removed with the picture."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from search_app.query import geometry, keypoint_store


def _photo_bytes(quality: int = 90) -> bytes:
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None, "scikit-learn (requirements/dev.txt) provides the real photo this test needs"
    img = Image.open(Path(spec.submodule_search_locations[0]) / "datasets" / "images" / "china.jpg").convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def stored(db):
    from media_app.services import media_create_image

    media, _ = media_create_image(stream=io.BytesIO(_photo_bytes()), original_name="china.jpg")
    return media


def _same(a: geometry.Keypoints, b: geometry.Keypoints) -> bool:
    return a.size == b.size and np.array_equal(a.points, b.points) and np.array_equal(a.descriptors, b.descriptors)


def _picture_must_not_be_read(monkeypatch) -> None:
    def refuse(name):
        raise AssertionError(f"the picture {name} was decoded for keypoints that are kept")

    monkeypatch.setattr(keypoint_store, "open_stored", refuse)


def test_keypoints_are_found_once_kept_and_read_back_instead_of_the_picture(stored, monkeypatch):
    name = keypoint_store.name_for(stored.sha256)
    assert not default_storage.exists(name)
    found = keypoint_store.for_picture(stored.sha256, stored.file.name)
    assert len(found.points) > 500 and found.size[0] == geometry.SIDE
    assert _same(found, geometry.keypoints(keypoint_store.open_stored(stored.file.name)))
    assert default_storage.exists(name)

    _picture_must_not_be_read(monkeypatch)
    assert _same(keypoint_store.for_picture(stored.sha256, stored.file.name), found)


@pytest.mark.parametrize("damage", ["other parameters", "cut short", "not keypoints"])
def test_a_kept_file_made_with_other_parameters_or_damaged_is_made_again(stored, damage):
    found = keypoint_store.for_picture(stored.sha256, stored.file.name)
    name = keypoint_store.name_for(stored.sha256)
    data = keypoint_store.encode(found)
    bad = {"other parameters": data[:4] + b"00000000" + data[12:], "cut short": data[:-7], "not keypoints": b"\x00" * 40}[damage]
    default_storage.delete(name)
    default_storage.save(name, io.BytesIO(bad))
    assert keypoint_store.read(stored.sha256) is None
    assert _same(keypoint_store.for_picture(stored.sha256, stored.file.name), found)
    with default_storage.open(name, "rb") as fh:
        assert fh.read() == data
    assert default_storage.listdir(name.rsplit("/", 1)[0])[1] == [name.rsplit("/", 1)[1]]


def test_a_picture_without_keypoints_keeps_an_empty_file():
    flat = geometry.keypoints(Image.new("RGB", (300, 200), (90, 90, 90)))
    assert flat.descriptors is None
    back = keypoint_store.decode(keypoint_store.encode(flat))
    assert back is not None and back.descriptors is None and len(back.points) == 0 and back.size == (300, 200)


def test_deleting_the_picture_removes_its_kept_keypoints(stored, django_capture_on_commit_callbacks):
    from media_app.services import media_delete

    keypoint_store.for_picture(stored.sha256, stored.file.name)
    name = keypoint_store.name_for(stored.sha256)
    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=stored)
    assert not default_storage.exists(name)


def test_keypoints_of_a_picture_deleted_while_they_were_found_are_not_kept(stored):
    found = geometry.keypoints(keypoint_store.open_stored(stored.file.name))
    type(stored).objects.filter(pk=stored.pk).delete()
    keypoint_store.write(stored.sha256, found)
    assert not default_storage.exists(keypoint_store.name_for(stored.sha256))


def test_the_command_keeps_the_keypoints_of_every_picture_and_a_rerun_has_nothing_left(stored, monkeypatch):
    from django.core.management import call_command

    from media_app.services import media_create_image

    other, _ = media_create_image(stream=io.BytesIO(_photo_bytes(70)), original_name="china-cut.jpg")
    out = io.StringIO()
    call_command("keypoints", "--no-progress", "--workers", "2", stdout=out)
    assert "kept the keypoints of 2 picture(s)" in out.getvalue()
    for media in (stored, other):
        assert keypoint_store.read(media.sha256) is not None
    _picture_must_not_be_read(monkeypatch)
    out = io.StringIO()
    call_command("keypoints", "--no-progress", stdout=out)
    assert "kept the keypoints of 0 picture(s)" in out.getvalue()


def test_a_search_keeps_the_keypoints_of_a_photograph_but_not_of_a_small_picture(stored):
    assert keypoint_store.worth_keeping(stored.width, stored.height)
    assert not keypoint_store.worth_keeping(320, 240)
    assert not keypoint_store.worth_keeping(None, None)
    keypoint_store.for_picture(stored.sha256, stored.file.name, keep=False)
    assert keypoint_store.read(stored.sha256) is None
