"""The ingest service (media_app.ingest): walking, classifying by decoding, dedupe,
per-file failure reporting, atomic videos and recovery after a killed run."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from collections_app.models import Collection, CollectionMedia
from media_app.ingest import (
    DUPLICATE,
    SKIPPED,
    IngestOptions,
    ingest_collect,
    ingest_recover,
    ingest_run,
)
from media_app.ingest.recovery import Owner
from media_app.models import Media, MediaType
from media_app.services import media_create_image
from media_app.tests.test_video import write_video

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Journal and scratch space of each test in its own data directory."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture
def src(tmp_path) -> Path:
    """Where a test puts the files it ingests (apart from storage and data dirs)."""
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def stored(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def referenced() -> set[str]:
    return {name for names in Media.objects.values_list("file", "thumbnail", "playable") for name in names if name}


def ingest_leftovers(data_dir: Path) -> list[Path]:
    root = data_dir / "ingest"
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def run(*paths, **options):
    results = []
    summary = ingest_run(paths=[Path(p) for p in paths], options=IngestOptions(**options), on_result=results.append)
    return summary, {r.path: r for r in results}


@pytest.fixture
def messy_folder(tmp_path, image_bytes):
    """Images (one copied under another name and another folder), bad files of every
    kind, a 3-scene video, a symlink loop and a FIFO."""
    root = tmp_path / "evidence"
    (root / "day1" / "cam").mkdir(parents=True)
    (root / "day2").mkdir()
    (root / "day1" / "a.jpg").write_bytes(image_bytes(64, 48, seed=1))
    (root / "day1" / "b.png").write_bytes(image_bytes(64, 48, seed=2, fmt="PNG"))
    (root / "day1" / "c.webp").write_bytes(image_bytes(64, 48, seed=3, fmt="WEBP"))
    (root / "day2" / "copy of a.jpeg").write_bytes(image_bytes(64, 48, seed=1))
    (root / "day2" / "notes.jpg").write_text("this is a text file with an image name\n")
    full = image_bytes(200, 150, seed=4)
    (root / "day2" / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (root / "day2" / "random.bin").write_bytes(os.urandom(3000))
    (root / "day2" / "empty.jpg").write_bytes(b"")
    write_video(root / "day1" / "cam" / "clip.mp4", [(1, 1.0), (2, 1.0), (3, 1.0)])
    os.symlink("../..", root / "day1" / "cam" / "loop")
    os.symlink("missing.jpg", root / "day2" / "dangling.jpg")
    os.mkfifo(root / "day2" / "pipe.jpg")
    return root


def test_folder_is_imported_once_and_every_bad_file_is_reported_with_its_reason(messy_folder, isolated_storage):
    summary, results = run(messy_folder)

    assert (summary.images, summary.videos, summary.frames, summary.duplicates) == (3, 1, 3, 1)
    assert dict(summary.skipped) == {"not_media": 2, "corrupt_image": 1, "empty_file": 1, "broken_symlink": 1, "not_regular_file": 1}
    day2 = messy_folder / "day2"
    assert results[str(day2 / "notes.jpg")].code == "not_media"
    assert results[str(day2 / "random.bin")].code == "not_media"
    assert results[str(day2 / "truncated.jpg")].code == "corrupt_image"
    assert all(r.message for r in results.values() if r.status == SKIPPED)

    # The copy under another name is a duplicate naming the row it duplicates.
    original = Media.objects.get(original_name="a.jpg")
    copy = results[str(day2 / "copy of a.jpeg")]
    assert copy.status == DUPLICATE and copy.media_id == original.pk
    assert f"#{original.pk}" in copy.message and "a.jpg" in copy.message

    images = Media.objects.filter(media_type=MediaType.IMAGE)
    assert sorted(images.values_list("format", flat=True)) == ["JPEG", "PNG", "WEBP"]
    assert original.source_path == str(messy_folder / "day1" / "a.jpg")

    video = Media.objects.get(media_type=MediaType.VIDEO)
    assert (video.format, video.width, video.height, video.original_name) == ("mp4", 64, 48, "clip.mp4")
    assert video.duration == pytest.approx(3.0, abs=0.2)
    frames = list(video.frames.order_by("frame_number"))
    assert len(frames) == 3
    times = [f.timestamp for f in frames]
    assert times == sorted(times) and times[0] == 0.0 and 1.0 <= times[1] < 2.0 <= times[2] < 3.0
    assert all(f.media_type == MediaType.VIDEO_FRAME and f.format == "JPEG" and f.thumbnail for f in frames)
    assert frames[1].original_name == f"clip.mp4#t={times[1]:.3f}"

    # Every stored file belongs to a row, every row's files exist, scratch space is gone.
    assert stored(isolated_storage) == referenced()
    assert len(referenced()) == 2 * Media.objects.count()
    assert ingest_leftovers(messy_folder.parent / "data") == []


def test_rerun_adds_nothing_and_reports_duplicates(messy_folder, isolated_storage):
    first, _ = run(messy_folder)
    rows, files = Media.objects.count(), stored(isolated_storage)

    again, results = run(messy_folder)

    assert (again.imported, again.frames) == (0, 0)
    assert again.duplicates == first.imported + first.duplicates
    assert again.skipped == first.skipped
    assert Media.objects.count() == rows and stored(isolated_storage) == files
    clip = results[str(messy_folder / "day1" / "cam" / "clip.mp4")]
    assert clip.status == DUPLICATE and clip.kind == MediaType.VIDEO


def test_dry_run_writes_nothing_and_predicts_the_real_run(messy_folder, isolated_storage, data_dir):
    dry, _ = run(messy_folder, dry_run=True)
    assert Media.objects.count() == 0 and stored(isolated_storage) == set()
    assert ingest_leftovers(data_dir) == []

    real, _ = run(messy_folder)
    assert (dry.images, dry.videos, dry.duplicates, dry.skipped) == (real.images, real.videos, real.duplicates, real.skipped)


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "x.png"), ("PNG", "x.jpg"), ("WEBP", "x"), ("GIF", "x.dat"), ("BMP", "x.tif"), ("TIFF", "x.mp4")])
def test_images_are_recognised_by_content_not_name(src, image_bytes, fmt, name):
    path = src / name
    path.write_bytes(image_bytes(32, 24, seed=5, fmt=fmt))
    summary, results = run(path)
    assert summary.images == 1, results
    assert Media.objects.get().format == fmt


def test_ingest_stores_images_exactly_like_the_upload_service(src, image_bytes):
    data = image_bytes(50, 40, seed=8)
    (src / "one.jpg").write_bytes(data)
    run(src / "one.jpg")
    media = Media.objects.get()
    again, created = media_create_image(stream=io.BytesIO(data), original_name="upload.jpg")
    assert (again.pk, created) == (media.pk, False)
    assert default_storage.open(media.file.name).read() == data  # byte for byte


def test_the_same_video_twice_in_one_batch_is_one_video(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    write_video(folder / "a.mkv", [(1, 1.0), (2, 1.0)], container="matroska")
    (folder / "b.mkv").write_bytes((folder / "a.mkv").read_bytes())
    summary, results = run(folder)
    assert (summary.videos, summary.duplicates, summary.frames) == (1, 1, 2)
    assert results[str(folder / "b.mkv")].status == DUPLICATE
    assert Media.objects.filter(media_type=MediaType.VIDEO).count() == 1


def test_a_failed_video_leaves_no_row_and_no_file(src, isolated_storage, data_dir, monkeypatch):
    write_video(src / "clip.mp4", [(1, 1.0), (2, 1.0)])

    def broken_bulk_create(*args, **kwargs):
        raise RuntimeError("disk full while writing frame rows")

    monkeypatch.setattr(Media.objects, "bulk_create", broken_bulk_create)
    summary, results = run(src / "clip.mp4")

    assert summary.skipped == {"error": 1}
    assert "disk full" in results[str(src / "clip.mp4")].message
    assert Media.objects.count() == 0
    assert stored(isolated_storage) == set()
    assert ingest_leftovers(data_dir) == []


def test_ctrl_c_while_storing_a_video_rolls_it_back(src, isolated_storage, data_dir, monkeypatch):
    write_video(src / "clip.mp4", [(1, 1.0), (2, 1.0)])
    (src / "z.png").write_bytes(b"not reached")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Media.objects, "bulk_create", interrupted)
    summary, _ = run(src)

    assert summary.interrupted and summary.done == 0
    assert Media.objects.count() == 0 and stored(isolated_storage) == set()
    assert ingest_leftovers(data_dir) == []


def test_stop_event_ends_the_run_between_files(src, image_bytes):
    for i in range(5):
        (src / f"{i}.jpg").write_bytes(image_bytes(20, 20, seed=i))
    stop = threading.Event()
    results = []

    def on_result(result):
        results.append(result)
        stop.set()

    summary = ingest_run(paths=[src], options=IngestOptions(), on_result=on_result, stop=stop)
    assert summary.interrupted and len(results) == 1 and Media.objects.count() == 1


def test_collection_gets_imported_files_and_duplicates(src, image_bytes, user):
    (src / "a.jpg").write_bytes(image_bytes(30, 20, seed=1))
    run(src / "a.jpg")
    (src / "b.jpg").write_bytes(image_bytes(30, 20, seed=2))
    write_video(src / "clip.mp4", [(1, 1.0), (2, 1.0)])
    collection = Collection.objects.create(title="Case 7", user=user, username=user.username)

    summary, _ = run(src, collection=collection, username="operator")

    assert (summary.imported, summary.duplicates) == (2, 1)
    members = CollectionMedia.objects.filter(collection=collection)
    # The video itself is the member; its frames belong to it through ``parent``.
    assert sorted(members.values_list("media__media_type", flat=True)) == ["image", "image", "video"]
    assert set(members.values_list("username", flat=True)) == {"operator"}


def test_walk_survives_loops_and_reports_what_it_cannot_read(src, image_bytes):
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "x.jpg").write_bytes(image_bytes(seed=1))
    os.symlink(src / "a", src / "a" / "b" / "up")  # a -> b -> up -> a ...
    os.symlink(src / "a" / "b", src / "shortcut")  # the same folder twice
    files, problems = ingest_collect([src, src / "a" / "b" / "x.jpg"])
    assert files.count(src / "a" / "b" / "x.jpg") == 2  # the walk once + the explicit path
    assert problems == []


def test_unreadable_folder_is_reported_and_the_rest_is_walked(src, image_bytes, monkeypatch):
    (src / "ok").mkdir()
    (src / "ok" / "x.jpg").write_bytes(image_bytes(seed=1))
    (src / "locked").mkdir()
    # Tests run as root, for whom a mode-000 folder is readable; the real permission
    # check is in test_ingest_command (as an unprivileged user). Here only the walk's
    # handling of the error is under test.
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, problems = ingest_collect([src])
    assert files == [src / "ok" / "x.jpg"]
    assert [(p.code, Path(p.path).name) for p in problems] == [("unreadable_dir", "locked")]
    assert "Permission denied" in problems[0].message


def _dead_run(data_dir: Path, shas: list[str], prefixes: list[str]) -> Path:
    """What a run killed with -9 leaves: an owner folder with a journal entry, and a
    lock file nobody holds."""
    root = data_dir / "ingest"
    owner = root / "deadbeef"
    (owner / "journal").mkdir(parents=True)
    (owner / "scratch" / "tmpabc").mkdir(parents=True)
    (owner / "scratch" / "tmpabc" / "000000001.jpg").write_bytes(b"half a frame")
    (owner / "journal" / "e1.json").write_text(json.dumps({"shas": shas, "prefixes": prefixes}))
    (root / "deadbeef.lock").write_text("")
    return owner


def test_recovery_deletes_what_a_killed_run_stored_without_rows(src, image_bytes, isolated_storage, data_dir):
    (src / "kept.jpg").write_bytes(image_bytes(seed=1))
    run(src / "kept.jpg")
    kept = Media.objects.get()
    before = stored(isolated_storage)
    orphan_sha = "cd" * 32
    # The killed run had written an image and a thumbnail, one of them twice (the
    # storage's de-collision suffix), and shared a hash prefix folder with a real row.
    for name in (f"media/cd/cd/{orphan_sha}.jpg", f"media/cd/cd/{orphan_sha}_x1y2z3a.jpg", f"thumbs/cd/cd/{orphan_sha}.jpg"):
        default_storage.save(name, io.BytesIO(b"partial"))
    _dead_run(data_dir, [orphan_sha, kept.sha256], ["media", "thumbs"])

    removed = ingest_recover()

    assert removed == 3
    assert stored(isolated_storage) == before  # the committed row's files are untouched
    assert ingest_leftovers(data_dir) == []


def test_recovery_leaves_a_live_run_alone(tmp_path, isolated_storage, data_dir):
    owner = Owner.acquire()
    try:
        sha = "ef" * 32
        default_storage.save(f"media/ef/ef/{sha}.jpg", io.BytesIO(b"being written"))
        with owner.journal([sha], ["media"]):
            assert ingest_recover() == 0
            assert default_storage.exists(f"media/ef/ef/{sha}.jpg")
            default_storage.delete(f"media/ef/ef/{sha}.jpg")
    finally:
        owner.release()
    assert ingest_leftovers(data_dir) == []


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_import_the_same_as_one(src, image_bytes, isolated_storage):
    # Threads need a database other connections can see: PostgreSQL, or SQLite on
    # file. On the in-memory SQLite test database ingest falls back to one thread.
    for i in range(12):
        (src / f"{i:02d}.jpg").write_bytes(image_bytes(40, 30, seed=i % 9))  # 3 duplicates
    write_video(src / "v1.mp4", [(1, 1.0), (2, 1.0)])
    (src / "v2.mp4").write_bytes((src / "v1.mp4").read_bytes())
    summary, _ = run(src, workers=3)
    assert (summary.images, summary.videos, summary.duplicates, summary.frames) == (9, 1, 4, 2)
    assert Media.objects.count() == 9 + 1 + 2
    assert stored(isolated_storage) == referenced()


# --- A task's ingest stays inside the allowed folders ------------------------------------------


@pytest.fixture
def allowed_and_outside(tmp_path, image_bytes):
    """An allowed folder holding a real image, a link to an image outside, a link to a
    folder outside, a link to a folder inside and a dangling link; and the outside."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "inner").mkdir(parents=True)
    (outside / "secret").mkdir(parents=True)
    (allowed / "real.jpg").write_bytes(image_bytes(40, 30, seed=1))
    (allowed / "inner" / "also.jpg").write_bytes(image_bytes(40, 30, seed=2))
    (outside / "secret.jpg").write_bytes(image_bytes(40, 30, seed=3))
    (outside / "secret" / "more.jpg").write_bytes(image_bytes(40, 30, seed=4))
    os.symlink(outside / "secret.jpg", allowed / "file-link.jpg")
    os.symlink(outside / "secret", allowed / "dir-link")
    os.symlink(allowed / "inner", allowed / "inside-link")
    os.symlink(outside / "gone.jpg", allowed / "dangling.jpg")
    return allowed.resolve(), outside.resolve()


def test_a_confined_ingest_skips_links_out_of_the_allowed_folders(allowed_and_outside):
    allowed, outside = allowed_and_outside
    summary, results = run(allowed, confine_to=[allowed])
    assert summary.images == 2  # real.jpg, inner/also.jpg (the link inside leads to a folder walked already)
    assert {Path(r.path).name: r.code for r in results.values() if r.status == SKIPPED} == {
        "file-link.jpg": "symlink_outside_allowed",
        "dir-link": "symlink_outside_allowed",
        "dangling.jpg": "broken_symlink",
    }
    assert not any(str(outside) in r.message for r in results.values())  # where links point is not told
    assert {m.original_name for m in Media.objects.all()} == {"real.jpg", "also.jpg"}
    # The operator's own command (not confined) follows links, as before.
    summary, _ = run(allowed)
    assert summary.images == 2 and {m.original_name for m in Media.objects.all()} == {"real.jpg", "also.jpg", "file-link.jpg", "more.jpg"}


def test_a_file_swapped_for_a_link_after_the_walk_is_not_opened(allowed_and_outside):
    from core.errors import InvalidInput
    from media_app.ingest.walk import open_confined

    allowed, outside = allowed_and_outside
    files, _ = ingest_collect([allowed], confine_to=[allowed])
    target = allowed / "real.jpg"
    assert target in files
    target.unlink()
    os.symlink(outside / "secret.jpg", target)  # swapped in between the walk and the open
    with pytest.raises(InvalidInput) as exc:
        open_confined(target, [allowed])
    assert exc.value.code == "symlink_outside_allowed"
    # A folder on the way swapped for a link is refused by the kernel (O_NOFOLLOW), even
    # when the real path was checked a moment before.
    inner = allowed / "inner"
    os.rename(inner, allowed / "inner-moved")
    os.symlink(outside / "secret", inner)
    with pytest.raises(OSError):
        open_confined_after_check(allowed / "inner" / "also.jpg", allowed)


def open_confined_after_check(path: Path, root: Path):
    """open_confined's open, as if the check had passed before the swap."""
    from media_app.ingest import walk

    real = os.path.realpath
    try:
        walk.os.path.realpath = lambda p: str(root / Path(p).relative_to(root))  # the path as checked
        return walk.open_confined(path, [root])
    finally:
        walk.os.path.realpath = real


def test_the_ingest_folder_task_is_confined(allowed_and_outside, settings, staff, django_capture_on_commit_callbacks):
    from tasks_app.models import TaskState
    from tasks_app.services import task_start

    allowed, _ = allowed_and_outside
    settings.INGEST_ALLOWED_DIRS = [str(allowed)]
    settings.TASKS_INLINE, settings.TASKS_EAGER, settings.REDIS_URL = True, True, None
    with django_capture_on_commit_callbacks(execute=True):
        run_ = task_start(name="ingest_folder", params={"path": str(allowed), "index": False}, user=staff)
    run_.refresh_from_db()
    assert run_.state == TaskState.SUCCESS, run_.error
    assert run_.result["images"] == 2 and run_.result["skipped"] == {"symlink_outside_allowed": 2, "broken_symlink": 1}
    assert {m.original_name for m in Media.objects.all()} == {"real.jpg", "also.jpg"}


# --- a copy browsers play -----------------------------------------------------------------------


def test_a_video_browsers_cannot_play_gets_an_h264_copy_beside_the_untouched_original(src, isolated_storage, data_dir, django_capture_on_commit_callbacks):
    from media_app.video import browser_playable, probe_video

    original = write_video(src / "cctv.mp4", [(1, 1.0), (2, 1.0)], codec="mpeg4")  # MPEG-4 Part 2, as the demo's
    summary, results = run(original)

    video = Media.objects.get(media_type=MediaType.VIDEO)
    assert summary.videos == 1 and not results[str(original)].warning
    assert default_storage.open(video.file.name).read() == original.read_bytes()  # the evidence, byte for byte
    assert video.playable.name.endswith(".playable.mp4") and video.format == "mp4"
    copy = probe_video(Path(default_storage.path(video.playable.name)))
    assert (copy.codec, copy.pix_fmt, copy.width, copy.height) == ("h264", "yuv420p", 64, 48) and browser_playable(copy)
    assert copy.duration == pytest.approx(2.0, abs=0.2)
    assert stored(isolated_storage) == referenced()

    # Deleting the video takes its copy along.
    from media_app.services import media_delete

    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=video)
    assert stored(isolated_storage) == set()


def test_a_video_browsers_play_is_stored_without_a_copy(src, isolated_storage):
    run(write_video(src / "phone.mp4", [(1, 1.0)]))  # H.264 in MP4
    assert Media.objects.get(media_type=MediaType.VIDEO).playable.name == ""


def test_a_failed_copy_is_a_warning_and_the_video_is_still_imported(src, isolated_storage, monkeypatch):
    from media_app.ingest import run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError("encoder missing")

    monkeypatch.setattr(run_module, "transcode_playable", broken)
    original = write_video(src / "cctv.avi", [(1, 1.0)], codec="mpeg4", container="avi")
    summary, results = run(original)

    assert summary.videos == 1 and Media.objects.get(media_type=MediaType.VIDEO).playable.name == ""
    assert "no copy browsers play (mpeg4 in avi): encoder missing" in results[str(original)].warning
    assert stored(isolated_storage) == referenced()


def test_recovery_keeps_a_stored_copy_its_row_references(src, isolated_storage, data_dir):
    from media_app.ingest.recovery import _remove_unreferenced

    run(write_video(src / "cctv.mp4", [(1, 1.0)], codec="mpeg4"))
    video = Media.objects.get(media_type=MediaType.VIDEO)
    assert _remove_unreferenced([video.sha256], ["media", "thumbs"]) == 0
    assert default_storage.exists(video.playable.name)


def test_videos_stored_before_copies_existed_get_one_from_the_command(src, isolated_storage):
    from django.core.management import call_command

    run(write_video(src / "cctv.mp4", [(1, 1.0)], codec="mpeg4"), write_video(src / "phone.mp4", [(2, 1.0)]))
    Media.objects.update(playable="")
    for name in [n for n in stored(isolated_storage) if n.endswith(".playable.mp4")]:
        default_storage.delete(name)

    out = io.StringIO()
    call_command("make_playable", stdout=out)

    assert "1 copies made, 1 videos play as they are" in out.getvalue()
    cctv = Media.objects.get(original_name="cctv.mp4")
    assert cctv.playable.name and default_storage.exists(cctv.playable.name)
    call_command("make_playable", stdout=io.StringIO())  # again: nothing to do
    assert Media.objects.exclude(playable="").count() == 1
