"""manage.py ingest PATH [PATH ...]: import folders of images and videos, then index them."""

from __future__ import annotations

import getpass
import os
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from media_app.ingest import DUPLICATE, IMPORTED, SKIPPED, FileResult, IngestOptions, IngestSummary, ingest_collect, ingest_index, ingest_run
from media_app.video import KeyframeOptions

_INTERRUPTED = "Interrupted: run the same command again to finish (completed files are kept)."


class Command(BaseCommand):
    help = (
        "Import images (JPEG, PNG, WebP, GIF, BMP, TIFF) and videos (MP4, MOV, MKV, WebM, AVI, ...) from files and folders, "
        "recursively. Files are recognised by decoding, not by name; files already imported (by sha256) are reported as "
        "duplicates; bad files are reported and skipped. Videos become a video item plus keyframe items. Afterwards every "
        "active feature (or --feature) indexes what is new. Interrupt at any time: running the same command again finishes "
        "the job. Exit status 1 when files failed and none was imported or already present, or on a usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="Files or folders to import")
        parser.add_argument("--dry-run", action="store_true", help="Classify and count; write nothing")
        parser.add_argument("--collection", type=int, metavar="ID", help="Add every imported (and duplicate) item to this collection")
        parser.add_argument(
            "--feature", type=int, action="append", dest="features", metavar="ID", help="Index into this feature (repeatable; default: every active feature)"
        )
        parser.add_argument("--no-index", action="store_true", help="Import only; do not update any feature's index")
        parser.add_argument("--ocr", action="store_true", help="Also read the text on every picture (about 1 s each on one core; see docs/text-search.md)")
        parser.add_argument("--workers", type=int, help=f"Files decoded in parallel (default {settings.INGEST_WORKERS}, VFRAME_INGEST_WORKERS)")
        parser.add_argument("--username", default="", help="Name recorded on collection memberships (default: the OS user)")
        video = parser.add_argument_group("video keyframes (defaults from VFRAME_VIDEO_* settings)")
        video.add_argument("--scene-threshold", type=float, help=f"Mean gray difference 0..1 that counts as a cut (default {settings.VIDEO_SCENE_THRESHOLD})")
        video.add_argument(
            "--max-interval", type=float, help=f"Seconds after which a changed frame is kept even without a cut (default {settings.VIDEO_MAX_INTERVAL})"
        )
        video.add_argument("--min-interval", type=float, help=f"Seconds between kept frames at least (default {settings.VIDEO_MIN_INTERVAL})")
        video.add_argument("--min-change", type=float, help=f"Difference under which a frame counts as unchanged (default {settings.VIDEO_MIN_CHANGE})")
        video.add_argument(
            "--keyframes-only", action="store_true", default=None, help="Decode only the codec's keyframes: much faster on long footage, coarser cuts"
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, **opts):
        # Before torch loads (the model loads on the embedding thread): the import
        # workers decode on the same cores as torch's OpenMP threads, and libgomp's
        # default spin-waiting takes CPU from them. Measured on 2 cores: -13 ms of CPU
        # and +15-20% images/s for the whole ingest. Setting it yourself wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        paths, options, features = self._parse(opts)
        # SIGTERM (docker stop, kill) gets the same orderly stop as Ctrl-C: files in
        # progress finish or roll back, nothing half-written stays behind.
        previous = _on_sigterm_interrupt()
        try:
            self._work(paths, options, features)
        except KeyboardInterrupt:
            raise CommandError(_INTERRUPTED, returncode=130) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _parse(self, opts) -> tuple[list[Path], IngestOptions, list]:
        paths: list[Path] = opts["paths"]
        for path in paths:
            if not path.exists() and not path.is_symlink():
                raise CommandError(f"Path does not exist: {path}")
        workers = opts["workers"] if opts["workers"] is not None else settings.INGEST_WORKERS
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        for name in ("scene_threshold", "max_interval", "min_interval", "min_change"):
            if opts[name] is not None and opts[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        if opts["max_interval"] is not None and opts["max_interval"] <= 0:
            raise CommandError("--max-interval must be above 0")
        if opts["no_index"] and opts["features"]:
            raise CommandError("--feature and --no-index contradict each other")
        collection = self._collection(opts["collection"])
        features = self._features(opts)
        keyframes = KeyframeOptions.from_settings(
            scene_threshold=opts["scene_threshold"],
            max_interval=opts["max_interval"],
            min_interval=opts["min_interval"],
            min_change=opts["min_change"],
            keyframes_only=opts["keyframes_only"],
        )
        options = IngestOptions(
            dry_run=opts["dry_run"],
            workers=workers,
            keyframes=keyframes,
            collection=collection,
            username=opts["username"] or _os_user(),
            features=features,  # embedded from the import's own decode
            ocr=opts["ocr"],
        )
        self.verbosity = opts["verbosity"]
        self.show_progress = not opts["no_progress"] and self.verbosity > 0
        return paths, options, features

    def _work(self, paths: list[Path], options: IngestOptions, features: list) -> None:
        if self.verbosity > 0:
            self.stdout.write(f"Scanning {', '.join(str(p) for p in paths)} ...")
        files, problems = ingest_collect(paths)
        if self.verbosity > 0:
            self.stdout.write(f"Found {len(files)} files" + (f" and {len(problems)} unreadable entries" if problems else "") + ".")

        summary = self._run(files, problems, options)
        self._print_summary(summary)
        if summary.interrupted:
            raise CommandError(_INTERRUPTED, returncode=130)
        if not options.dry_run and features:
            self._index(features, summary.embedded)
        if summary.skipped_total and not summary.imported and not summary.duplicates:
            raise CommandError(f"Nothing could be imported: {summary.skipped_total} files failed.")

    # --- steps ---------------------------------------------------------------------------

    def _collection(self, collection_id):
        if collection_id is None:
            return None
        from collections_app.models import Collection

        collection = Collection.objects.filter(pk=collection_id).first()
        if collection is None:
            raise CommandError(f"Collection {collection_id} does not exist.")
        return collection

    def _features(self, opts) -> list:
        if opts["no_index"]:
            return []
        from search_app.models import Feature

        if opts["features"]:
            wanted = list(dict.fromkeys(opts["features"]))
            found = {f.pk: f for f in Feature.objects.filter(pk__in=wanted)}
            missing = [str(i) for i in wanted if i not in found]
            if missing:
                raise CommandError(f"Feature(s) do not exist: {', '.join(missing)}")
            return [found[i] for i in wanted]
        return list(Feature.objects.filter(active=True).order_by("pk"))

    def _run(self, files, problems, options: IngestOptions) -> IngestSummary:
        bar = tqdm(
            total=len(files) + len(problems),
            desc="dry run" if options.dry_run else "ingest",
            unit="file",
            file=_raw(self.stderr),
            disable=not self.show_progress,
            dynamic_ncols=True,
            smoothing=0.1,
        )
        stop = threading.Event()
        counts = {"new": 0, "dup": 0, "bad": 0}

        def on_result(result: FileResult) -> None:
            counts[{IMPORTED: "new", DUPLICATE: "dup", SKIPPED: "bad"}[result.status]] += 1
            bar.update(1)
            bar.set_postfix(counts, refresh=False)
            line = self._result_line(result, options.dry_run)
            if line:
                if self.show_progress:
                    tqdm.write(line, file=_raw(self.stdout))
                else:
                    self.stdout.write(line)

        try:
            return ingest_run(files=files, problems=problems, options=options, on_result=on_result, stop=stop)
        finally:
            bar.close()

    def _result_line(self, result: FileResult, dry_run: bool) -> str:
        if result.status == SKIPPED and self.verbosity >= 1:
            return self.style.WARNING(f"skipped    {result.path}  [{result.code}] {result.message}")
        if result.status == DUPLICATE and self.verbosity >= 1:
            return f"duplicate  {result.path}  {result.message}"
        if result.warning and self.verbosity >= 1:
            return self.style.WARNING(f"warning    {result.path}  {result.warning}")
        if result.status == IMPORTED and self.verbosity >= 2:
            what = f"video, {result.frames} keyframes" if result.kind == "video" else result.kind
            return f"{'would add' if dry_run else 'imported'}   {result.path}  ({what}{'' if dry_run else f', #{result.media_id}'})"
        return ""

    def _print_summary(self, s: IngestSummary) -> None:
        out = self.stdout
        if s.recovered_files:
            out.write(f"Recovered: removed {s.recovered_files} files left behind by an interrupted earlier run.")
        verb = "Would import" if s.dry_run else "Imported"
        frames = "" if s.dry_run else f" ({s.frames} keyframes)"
        line = f"{verb} {s.imported} files: {s.images} images, {s.videos} videos{frames}."
        out.write(self.style.SUCCESS(line) if s.imported else line)
        if s.duplicates:
            out.write(f"Duplicates: {s.duplicates} (already present; nothing added for them).")
        if s.skipped_total:
            out.write(self.style.WARNING(f"Skipped: {s.skipped_total}"))
            for code, count in s.skipped.most_common():
                out.write(f"  {code}: {count}")
        if not s.imported and s.duplicates and not s.skipped_total and not s.interrupted:
            out.write("Nothing new: every file was already imported.")
        if not s.total:
            out.write("No files found.")
        if s.dry_run:
            out.write("Dry run: nothing was written.")

    def _index(self, features, embedded: dict[int, int]) -> None:
        for feature in features:
            bar = tqdm(desc=f"index {feature.pk}", unit="item", file=_raw(self.stderr), disable=not self.show_progress, dynamic_ncols=True)

            def reporter(current: int, total: int, message: str, bar=bar) -> None:
                if total and bar.total != total:
                    bar.total = total
                bar.n = current
                bar.set_postfix_str(message[:60], refresh=False)
                bar.refresh()

            try:
                (result,) = ingest_index(features=[feature], reporter=reporter)
            except Exception as exc:
                raise CommandError(f"Indexing feature {feature.pk} failed: {exc}") from exc
            finally:
                bar.close()
            if self.verbosity > 0:
                self.stdout.write(_index_line(feature, result, embedded.get(feature.pk, 0)))


def _index_line(feature, result, embedded_while_importing: int = 0) -> str:
    result = result if isinstance(result, dict) else {}
    if result.get("claimed") is False:
        return f"Feature {feature.pk} ({feature}): {result.get('message') or 'another build is running and will include the new media.'}"
    counts = ", ".join(f"{key} {result[key]}" for key in ("embedded", "skipped", "removed") if result.get(key))
    if embedded_while_importing:
        counts = ", ".join(filter(None, [f"embedded {embedded_while_importing} while importing", counts]))
    size = f"; index has {result['count']} items" if "count" in result else ""
    return f"Feature {feature.pk} ({feature}) is up to date ({counts or 'nothing new'}{size})."


def _raw(wrapper):
    # tqdm redraws with "\r"; Django's OutputWrapper would append a newline to each write.
    return getattr(wrapper, "_out", wrapper)


def _on_sigterm_interrupt():
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt()

    return signal.signal(signal.SIGTERM, interrupt)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "ingest"
