"""manage.py ingest: arguments, output, exit status; and, in real subprocesses, a run
killed with SIGKILL and finished by the next one, and real permission errors."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

import search_app.indexing.build
from collections_app.models import Collection, CollectionMedia
from media_app.models import Media, MediaType
from media_app.tests.test_video import write_video
from media_app.video import KeyframeOptions, extract_keyframes
from search_app.models import Feature

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture
def src(tmp_path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def ingest(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ingest", *[str(a) for a in args], "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- In-process: arguments, output, exit status --------------------------------------------


@pytest.mark.django_db
def test_summary_groups_skips_and_a_rerun_says_nothing_is_new(src, image_bytes):
    (src / "a.jpg").write_bytes(image_bytes(seed=1))
    (src / "a copy.jpg").write_bytes(image_bytes(seed=1))
    (src / "b.gif").write_bytes(image_bytes(seed=2, fmt="GIF"))
    (src / "fake.jpg").write_text("text")
    (src / "other.txt").write_text("more text")
    write_video(src / "clip.webm", [(1, 1.0), (2, 1.0)], codec="libvpx", container="webm")

    out, _ = ingest(src)
    assert "Imported 3 files: 2 images, 1 videos (2 keyframes)." in out
    assert "Duplicates: 1" in out and "already imported as image" in out
    assert "Skipped: 2" in out and "  not_media: 2" in out
    assert f"skipped    {src / 'fake.jpg'}  [not_media]" in out

    out, _ = ingest(src)
    assert "Imported 0 files" in out and "Duplicates: 4" in out
    assert Media.objects.count() == 2 + 1 + 2


@pytest.mark.django_db
def test_dry_run_counts_and_writes_nothing(src, image_bytes, isolated_storage):
    (src / "a.png").write_bytes(image_bytes(seed=1, fmt="PNG"))
    write_video(src / "clip.mp4", [(1, 1.0)])
    out, _ = ingest(src, "--dry-run")
    assert "Would import 2 files: 1 images, 1 videos." in out and "Dry run: nothing was written." in out
    assert Media.objects.count() == 0
    assert not isolated_storage.exists() or not any(isolated_storage.rglob("*.*"))


@pytest.mark.django_db
def test_exit_status_is_1_only_when_nothing_could_be_imported(src, image_bytes):
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(CommandError, match="Nothing could be imported: 1 files failed") as exc:
        ingest(src)
    assert exc.value.returncode == 1

    (src / "good.jpg").write_bytes(image_bytes(seed=3))
    ingest(src)  # one imported, one failed: success
    ingest(src)  # one already present, one failed: success, nothing left to do
    empty = src / "empty"
    empty.mkdir()
    out, _ = ingest(empty)  # nothing attempted, nothing failed
    assert "No files found." in out


@pytest.mark.django_db
def test_usage_errors_stop_before_any_work(src, image_bytes, isolated_storage):
    (src / "a.jpg").write_bytes(image_bytes(seed=1))
    for args, message in [
        ((src / "missing",), "Path does not exist"),
        ((src, "--collection", "999"), "Collection 999 does not exist"),
        ((src, "--feature", "999"), "Feature(s) do not exist: 999"),
        ((src, "--feature", "1", "--no-index"), "contradict"),
        ((src, "--workers", "0"), "at least 1"),
        ((src, "--min-interval", "-1"), "must not be negative"),
    ]:
        with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
            ingest(*args)
    assert Media.objects.count() == 0
    assert not isolated_storage.exists() or not any(isolated_storage.rglob("*.*"))


@pytest.mark.django_db
def test_collection_option_adds_imports_and_duplicates(src, image_bytes, user):
    (src / "old.jpg").write_bytes(image_bytes(seed=1))
    ingest(src / "old.jpg")
    (src / "new.jpg").write_bytes(image_bytes(seed=2))
    collection = Collection.objects.create(title="Case", user=user, username=user.username)
    ingest(src, "--collection", collection.pk, "--username", "analyst")
    members = CollectionMedia.objects.filter(collection=collection)
    assert sorted(members.values_list("media__original_name", flat=True)) == ["new.jpg", "old.jpg"]
    assert set(members.values_list("username", flat=True)) == {"analyst"}


@pytest.mark.django_db
def test_video_options_reach_keyframe_selection(src):
    write_video(src / "static.mp4", [(5, 30.0)], fps=2)
    ingest(src, "--max-interval", "10", "--min-change", "0")
    video = Media.objects.get(media_type=MediaType.VIDEO)
    assert list(video.frames.order_by("timestamp").values_list("timestamp", flat=True)) == [0.0, 10.0, 20.0]


@pytest.mark.django_db
@pytest.mark.parametrize("at_ingest", [True, False])
def test_keypoints_are_kept_as_pictures_and_keyframes_are_imported_when_set(src, image_bytes, settings, at_ingest):
    from search_app.query import keypoint_store

    settings.KEYPOINTS_AT_INGEST = at_ingest
    (src / "a.jpg").write_bytes(image_bytes(320, 240, seed=1))
    write_video(src / "clip.mp4", [(5, 2.0), (120, 2.0)], fps=4, size=(160, 120))
    ingest(src)
    pictures = Media.objects.exclude(media_type=MediaType.VIDEO)
    assert pictures.count() >= 3  # the image and the clip's keyframes
    assert all((keypoint_store.read(p.sha256) is not None) == at_ingest for p in pictures)


@pytest.mark.django_db
def test_active_features_index_what_was_imported_with_a_progress_reporter(src, image_bytes, monkeypatch):
    # feature_update_index belongs to the search app; here only the call is under test.
    calls = []

    def feature_update_index(*, feature, reporter=None):
        calls.append((feature.pk, Media.objects.count()))
        reporter(0, 2, "embedding")
        reporter(2, 2, "done")

    monkeypatch.setattr(search_app.indexing.build, "feature_update_index", feature_update_index, raising=False)
    active = [Feature.objects.create(modelzoo_name="resnet18"), Feature.objects.create(modelzoo_name="resnet50")]
    inactive = Feature.objects.create(modelzoo_name="efficientnet_b0", active=False)
    (src / "a.jpg").write_bytes(image_bytes(seed=1))

    out, _ = ingest(src)
    assert calls == [(active[0].pk, 1), (active[1].pk, 1)]
    assert f"Feature {active[0].pk}" in out and "is up to date" in out

    calls.clear()
    ingest(src, "--feature", inactive.pk)
    assert calls == [(inactive.pk, 1)]  # a rerun still indexes: an earlier run may have died before it

    calls.clear()
    ingest(src, "--no-index")
    ingest(src, "--dry-run")
    assert calls == []


@pytest.mark.django_db
def test_indexing_failure_fails_the_command(src, image_bytes, monkeypatch):
    def feature_update_index(*, feature, reporter=None):
        raise RuntimeError("model weights missing")

    monkeypatch.setattr(search_app.indexing.build, "feature_update_index", feature_update_index, raising=False)
    Feature.objects.create(modelzoo_name="resnet18")
    (src / "a.jpg").write_bytes(image_bytes(seed=1))
    with pytest.raises(CommandError, match="model weights missing"):
        ingest(src)
    assert Media.objects.count() == 1  # the import itself stands


# --- Subprocesses: kill -9 and real permission errors --------------------------------------


class Deployment:
    """A data dir and a database that a `manage.py` subprocess can share with the test:
    the PostgreSQL test database itself, or a migrated SQLite file."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.files = self.data / "files"
        self.data.mkdir(parents=True)
        db = connection.settings_dict
        if connection.vendor == "postgresql":
            auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
            self.url = f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
            self.sqlite = None
        else:
            self.sqlite = root / "db.sqlite3"
            self.url = f"sqlite:///{self.sqlite}"
            self.manage("migrate", "-v0").check_returncode()

    def env(self) -> dict:
        return {
            **os.environ,
            "DATABASE_URL": self.url,
            "VFRAME_DATA_DIR": str(self.data),
            "DJANGO_SETTINGS_MODULE": "vframe_search.settings",
            "PYTHONUNBUFFERED": "1",
        }

    def command(self, *args) -> list[str]:
        return [sys.executable, str(REPO / "manage.py"), *[str(a) for a in args]]

    def manage(self, *args, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *self.command(*args)], env=self.env(), cwd=REPO, capture_output=True, text=True, timeout=120)

    def rows(self) -> list[tuple]:
        sql = "SELECT sha256, media_type, parent_id, file, thumbnail, frame_number, id FROM media_app_media"
        if self.sqlite:
            with sqlite3.connect(self.sqlite) as db:
                return db.execute(sql).fetchall()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    def stored(self) -> set[str]:
        return {str(p.relative_to(self.files)) for p in self.files.rglob("*") if p.is_file()} if self.files.exists() else set()

    def ingest_leftovers(self) -> list[str]:
        root = self.data / "ingest"
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _evidence(folder: Path, image_bytes) -> tuple[int, dict[str, int]]:
    """40 images (4 of them copies) and 4 multi-scene videos; returns the number of
    distinct images and, per video sha256, the frames a clean run keeps."""
    folder.mkdir()
    for i in range(40):
        (folder / f"img_{i:03d}.jpg").write_bytes(image_bytes(480, 360, seed=i % 36))
    frames = {}
    for v in range(4):
        path = write_video(folder / f"video_{v}.mp4", [(100 + v * 10 + s, 1.0) for s in range(4)], fps=25, size=(320, 240))
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        _, kept, _ = extract_keyframes(path, video_sha256=sha, out_dir=folder.parent / "probe" / str(v), options=KeyframeOptions.from_settings())
        frames[sha] = len(kept)
    shutil.rmtree(folder.parent / "probe")
    return 36, frames


def assert_videos_complete(rows: list[tuple], expected: dict[str, int]) -> None:
    """The videos present are exactly ``expected``, each with all of its frames."""
    videos = {r[0]: r[6] for r in rows if r[1] == "video"}
    assert set(videos) == set(expected)
    for sha, video_id in videos.items():
        assert len([r for r in rows if r[1] == "video_frame" and r[2] == video_id]) == expected[sha]
    assert len([r for r in rows if r[1] == "video_frame"]) == sum(expected.values())  # no orphan frame rows
    assert len({r[0] for r in rows}) == len(rows)


def _kill_after(deploy: Deployment, folder: Path, results: int, sig: int = signal.SIGKILL) -> tuple[int, str]:
    """Start an ingest and send it ``sig`` once it has reported ``results`` files;
    returns its exit status and output."""
    proc = subprocess.Popen(
        deploy.command("ingest", folder, "-v2", "--no-progress", "--no-index", "--workers", "2"),
        env=deploy.env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen, lines = 0, []
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(("imported", "duplicate", "skipped")):
                seen += 1
                if seen == results:
                    proc.send_signal(sig)
                    if sig == signal.SIGKILL:
                        break
            assert time.monotonic() < deadline
    finally:
        if proc.poll() is None and seen < results:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    return proc.returncode, "".join(lines)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_ingest_finishes_on_rerun_with_no_duplicates_and_no_orphans(tmp_path, image_bytes):
    deploy = Deployment(tmp_path / "deploy")
    folder = tmp_path / "evidence"
    images, frames = _evidence(folder, image_bytes)

    for results in (6, 12):  # the second run recovers after the first, then dies too
        status, output = _kill_after(deploy, folder, results)
        assert status == -signal.SIGKILL, output
    done = deploy.manage("ingest", folder, "--no-progress", "--no-index")
    assert done.returncode == 0, done.stdout + done.stderr

    rows = deploy.rows()
    assert len([r for r in rows if r[1] == "image"]) == images
    assert_videos_complete(rows, frames)
    assert len(rows) == images + len(frames) + sum(frames.values())
    # Every stored file belongs to exactly one row; nothing is left of the dead runs.
    names = [n for r in rows for n in (r[3], r[4])]
    assert len(names) == len(set(names))
    assert deploy.stored() == set(names)
    assert deploy.ingest_leftovers() == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_cleanly_at_once_and_a_rerun_finishes(tmp_path, image_bytes):
    deploy = Deployment(tmp_path / "deploy")
    folder = tmp_path / "evidence"
    images, frames = _evidence(folder, image_bytes)

    status, output = _kill_after(deploy, folder, 8, signal.SIGTERM)

    assert status == 130, output
    assert "Interrupted: run the same command again to finish" in output
    # No recovery needed: the files in progress were finished or rolled back.
    rows = deploy.rows()
    assert 0 < len(rows) < images + len(frames) + sum(frames.values())
    assert_videos_complete(rows, {r[0]: frames[r[0]] for r in rows if r[1] == "video"})
    assert deploy.stored() == {n for r in rows for n in (r[3], r[4])}
    assert deploy.ingest_leftovers() == []

    done = deploy.manage("ingest", folder, "--no-progress", "--no-index")
    assert done.returncode == 0 and "Recovered" not in done.stdout, done.stdout + done.stderr
    rows = deploy.rows()
    assert len(rows) == images + len(frames) + sum(frames.values())
    assert_videos_complete(rows, frames)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_files_and_folders_the_user_may_not_read_are_reported_and_skipped(tmp_path, image_bytes):
    # Root reads anything through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so the command
    # runs as root without them: it meets a real EACCES on mode 000, yet still reaches the
    # checkout and the interpreter it owns, wherever they live (another user could not).
    prefix = ("setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot produce a permission error")
    deploy = Deployment(tmp_path / "deploy")
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    (folder / "ok.jpg").write_bytes(image_bytes(seed=1))
    (folder / "secret.jpg").write_bytes(image_bytes(seed=2))
    (folder / "locked" / "inside.jpg").write_bytes(image_bytes(seed=3))
    (folder / "secret.jpg").chmod(0o000)
    (folder / "locked").chmod(0o000)
    try:
        result = deploy.manage("ingest", folder, "--no-progress", "--no-index", prefix=prefix)

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Imported 1 files" in result.stdout
        assert f"skipped    {folder / 'secret.jpg'}  [permission_denied]" in result.stdout
        assert f"skipped    {folder / 'locked'}  [unreadable_dir]" in result.stdout
        assert "  permission_denied: 1" in result.stdout and "  unreadable_dir: 1" in result.stdout
        assert [r[1] for r in deploy.rows()] == ["image"]
    finally:
        (folder / "locked").chmod(0o755)  # so pytest can remove tmp_path
        (folder / "secret.jpg").chmod(0o644)


def test_help_names_every_option_and_its_default():
    from vframe_search.management.commands.ingest import Command

    text = " ".join(Command().create_parser("manage.py", "ingest").format_help().split())
    for option in ("--dry-run", "--collection", "--feature", "--no-index", "--scene-threshold", "--max-interval", "--min-interval", "--workers"):
        assert option in text
    assert f"(default {django_settings.VIDEO_MAX_INTERVAL})" in text
