"""core.files: a file readers depend on is either the old one or the complete new one."""

from __future__ import annotations

import pytest

from core.files import atomic_path, atomic_write, atomic_write_bytes, rename_into_place


def test_atomic_path_renames_what_was_written_into_place_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "index.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".index.bin.") and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"complete")  # as a library that only takes a file name would
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]


def test_an_error_inside_atomic_path_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "index.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]


def test_atomic_write_that_fails_half_way_keeps_the_old_file(tmp_path):
    target = tmp_path / "meta.json"
    atomic_write_bytes(target, b'{"v": 1}')

    def write(fh):
        fh.write(b'{"v": ')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, write)
    assert target.read_bytes() == b'{"v": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_rename_into_place_replaces_the_target_with_the_finished_file(tmp_path):
    finished, target = tmp_path / "download.part", tmp_path / "model.pth"
    finished.write_bytes(b"weights")
    target.write_bytes(b"older weights")
    rename_into_place(finished, target)
    assert target.read_bytes() == b"weights" and not finished.exists()
