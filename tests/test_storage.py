"""vframe_search.storage.AtomicFileSystemStorage: a stored name always holds a whole file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile, File

from vframe_search.storage import AtomicFileSystemStorage


@pytest.fixture
def storage(tmp_path) -> AtomicFileSystemStorage:
    return AtomicFileSystemStorage(location=str(tmp_path / "files"), file_permissions_mode=0o640)


def files(storage: AtomicFileSystemStorage) -> list[str]:
    root = Path(storage.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_file_is_stored_whole_under_its_name_with_the_configured_mode(storage):
    name = storage.save("media/ab/cd/abcd.jpg", ContentFile(b"x" * 100_000))

    assert name == "media/ab/cd/abcd.jpg"
    assert files(storage) == [name]
    with storage.open(name, "rb") as fh:
        assert fh.read() == b"x" * 100_000
    assert os.stat(storage.path(name)).st_mode & 0o777 == 0o640


def test_the_same_name_twice_keeps_the_first_file_and_gives_the_second_a_free_name(storage):
    first = storage.save("media/ab/cd/abcd.jpg", ContentFile(b"first"))

    second = storage.save("media/ab/cd/abcd.jpg", ContentFile(b"second"))

    assert first != second and second.startswith("media/ab/cd/abcd_")
    assert storage.open(first).read() == b"first" and storage.open(second).read() == b"second"
    assert files(storage) == sorted([first, second])


class _FailsHalfway(File):
    """Content whose reading fails after the first chunk: a full disk or a dropped client."""

    def __init__(self):
        super().__init__(None, name="x")
        self.size = 2

    def chunks(self, chunk_size=None):
        yield b"first half"
        raise OSError(28, "No space left on device")


def test_a_write_that_fails_halfway_leaves_nothing_under_any_name(storage):
    with pytest.raises(OSError):
        storage.save("media/ab/cd/abcd.jpg", _FailsHalfway())

    assert files(storage) == []
    # The name is still free for the complete file.
    assert storage.save("media/ab/cd/abcd.jpg", ContentFile(b"whole")) == "media/ab/cd/abcd.jpg"
