"""What an ingest run reports: one result per path, and the summary counting them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..video import KeyframeOptions

IMPORTED = "imported"
DUPLICATE = "duplicate"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"


@dataclass
class FileResult:
    """What happened to one path. ``code`` says why a file was skipped."""

    path: str
    status: str
    kind: str = ""  # "image" or "video"
    code: str = ""
    message: str = ""
    media_id: int | None = None
    frames: int = 0
    warning: str = ""


@dataclass
class IngestOptions:
    """How to ingest; ``keyframes`` defaults to the VFRAME_VIDEO_* settings.

    ``features``: the search_app Features the run's images are embedded for as they
    are imported (from the same decode; see media_app.ingest.embed); their indexes are
    written afterwards by ``ingest_index``, which then embeds only what is missing.
    """

    dry_run: bool = False
    workers: int = 1
    keyframes: KeyframeOptions | None = None
    collection: Any = None  # a collection every stored media joins (the collections app's hook)
    username: str = ""
    features: Sequence[Any] = ()
    # Read the text on each stored picture too (the text app's hook); many times the
    # cost of embedding it (docs/benchmarks.md), so only when asked.
    ocr: bool = False
    # Real folder paths a task's ingest may read (see walk.ingest_collect); None: any.
    confine_to: Sequence[Path] | None = None


@dataclass
class IngestSummary:
    """Counts for the end-of-run report; skipped files are kept with their reasons."""

    dry_run: bool = False
    total: int = 0
    images: int = 0
    videos: int = 0
    frames: int = 0
    duplicates: int = 0
    skipped: Counter = field(default_factory=Counter)
    failures: list[FileResult] = field(default_factory=list)
    warnings: list[FileResult] = field(default_factory=list)
    interrupted: bool = False
    recovered_files: int = 0
    embedded: dict[int, int] = field(default_factory=dict)  # feature id -> vectors stored while importing

    @property
    def imported(self) -> int:
        return self.images + self.videos

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def done(self) -> int:
        return self.imported + self.duplicates + self.skipped_total

    def add(self, result: FileResult) -> None:
        if result.status == IMPORTED:
            if result.kind == "video":
                self.videos += 1
                self.frames += result.frames
            else:
                self.images += 1
        elif result.status == DUPLICATE:
            self.duplicates += 1
        elif result.status == SKIPPED:
            self.skipped[result.code] += 1
            self.failures.append(result)
        if result.warning:
            self.warnings.append(result)


def skipped(path: Path | str, code: str, message: str) -> FileResult:
    return FileResult(path=str(path), status=SKIPPED, code=code, message=message)


def os_code(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return "unreadable"


def os_message(exc: OSError) -> str:
    return exc.strerror or str(exc)
