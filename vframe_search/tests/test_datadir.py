"""Private file modes, on real files: a fresh data dir, an old one with loose modes, a
stored upload; and the sweep of what writes killed half-way leave behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import ROOT
from vframe_search.datadir import sweep_incoming


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start(data_dir: Path, command: str = "migrate", **env: str) -> None:
    """What every process does first: load the settings (through ``manage.py migrate``,
    or ``check``, which leaves the database alone)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VFRAME_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    environ.update(DJANGO_SETTINGS_MODULE="vframe_search.settings", VFRAME_DATA_DIR=str(data_dir), **env)
    result = subprocess.run([sys.executable, "manage.py", command, "-v0"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture
def usual_umask():
    """What a service usually runs with: new files would be 0644, new folders 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.slow
def test_a_new_data_dir_its_database_and_secret_key_are_private_from_the_start(tmp_path, usual_umask):
    data = tmp_path / "data"
    start(data)
    assert mode(data) == 0o700
    assert mode(data / "vframe.sqlite3") == 0o600
    assert mode(data / "secret_key") == 0o600
    assert (data / "vframe.sqlite3").stat().st_size > 0  # migrated: a real database


@pytest.mark.slow
def test_an_existing_data_dir_with_loose_modes_is_tightened_at_start(tmp_path):
    data = tmp_path / "data"
    start(data)
    data.chmod(0o755)
    for name in ("vframe.sqlite3", "secret_key"):
        (data / name).chmod(0o644)
    (data / "vframe.sqlite3-wal").write_bytes(b"")
    (data / "vframe.sqlite3-wal").chmod(0o644)
    key = (data / "secret_key").read_text()
    start(data, "check")  # SQLite would remove the empty journal file when it closes
    assert mode(data) == 0o700
    assert mode(data / "vframe.sqlite3") == 0o600 and mode(data / "vframe.sqlite3-wal") == 0o600
    assert mode(data / "secret_key") == 0o600 and (data / "secret_key").read_text() == key  # same key


@pytest.mark.slow
def test_with_a_front_proxy_sending_files_its_group_may_pass_through_the_data_dir(tmp_path):
    data = tmp_path / "data"
    start(data, VFRAME_SENDFILE_HEADER="X-Accel-Redirect")
    assert mode(data) == 0o710
    assert mode(data / "vframe.sqlite3") == 0o600


def test_stored_files_and_their_folders_are_not_readable_by_others(db, user, isolated_storage, usual_umask):
    import io

    from media_app.services import upload_create
    from tests.images import make_image_bytes

    upload, _ = upload_create(stream=io.BytesIO(make_image_bytes(64, 48, seed=7)), original_name="q.jpg", user=user)
    stored = isolated_storage / upload.file.name
    assert mode(stored) == 0o640
    folder = stored.parent
    while folder != isolated_storage.parent:
        assert mode(folder) & 0o007 == 0, folder
        folder = folder.parent


def test_the_sweep_removes_only_incomplete_files_nobody_writes_any_more(tmp_path):
    shard = tmp_path / "media" / "ab" / "cd"
    shard.mkdir(parents=True)
    stale = shard / "abcd.jpg.incoming-0123456789abcdef.tmp"
    fresh = shard / "abce.jpg.incoming-fedcba9876543210.tmp"
    whole = shard / "abcd.jpg"
    other = shard / "notes.tmp"
    for path in (stale, fresh, whole, other):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in (stale, whole, other):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert sweep_incoming(tmp_path, older_than=600) == [stale]
    assert not stale.exists() and fresh.exists() and whole.exists() and other.exists()
